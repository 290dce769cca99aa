//! The host matcher: from a normalised hostname to the most specific pattern's value.
//!
//! # Precedence
//! Whatever the order patterns were added in, the match is chosen by [`Specificity`]:
//! 1. exact beats `*` beats `**`;
//! 2. then more literal labels win;
//! 3. then (between `**` patterns) one anchored at the right (`**.example.com`) beats
//!    one anchored at the left (`payments.**`);
//! 4. then the labels are compared one by one from the anchored end (from the right for
//!    all but left-anchored `**` patterns): at the first position where one pattern has
//!    a literal label and the other a wildcard, the literal one wins
//!    (`*.eu.example.com` beats `api.*.example.com` for `api.eu.example.com`);
//! 5. then the pattern with more labels wins (`**.*.example.com` beats `**.example.com`).
//!
//! Two different patterns that both match one host never tie after rule 5: equal
//! answers to rules 1–5 mean the same wildcard positions, and the literal labels are
//! then fixed by the host itself.
//!
//! # Cost
//! Patterns live in a label trie stored in one hash table keyed by (parent node, label),
//! so a lookup does one probe per host label, whatever the number of patterns; wildcard
//! branches are explored only where a `*` node exists. Right-anchored patterns are walked
//! from the last label, left-anchored `**` patterns (rare) in a second trie from the first.
//! A table entry is 32 bytes with labels of up to 15 characters stored inline; longer
//! labels go to one shared string arena.

use std::hash::{BuildHasher, Hasher};

use crate::hostname::{HostPattern, PatternKind, PatternLabel};

/// How specific a pattern is; a greater value wins. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Specificity {
    kind: PatternKind,
    literal_labels: u8,
    right_anchored: bool,
    /// Bit `127 - i` is set when label `i`, counted from the anchored end, is literal.
    literal_mask: u128,
    labels: u8,
}

impl Specificity {
    /// Computes the specificity of a pattern.
    pub fn of(pattern: &HostPattern) -> Self {
        let right_anchored = !pattern.is_prefix_anchored();
        let labels: Vec<PatternLabel<'_>> = if right_anchored {
            pattern.labels().rev().collect()
        } else {
            pattern.labels().collect()
        };
        let mut literal_mask = 0u128;
        let mut literal_labels = 0u8;
        for (i, label) in labels.iter().enumerate() {
            if matches!(label, PatternLabel::Literal(_)) {
                literal_mask |= 1u128 << (127 - i);
                literal_labels += 1;
            }
        }
        Self {
            kind: pattern.kind(),
            literal_labels,
            right_anchored,
            literal_mask,
            labels: labels.len() as u8,
        }
    }

    /// The precedence class of the pattern.
    pub fn kind(&self) -> PatternKind {
        self.kind
    }
}

/// Index of a node; the two roots are not stored in the table.
type NodeId = u32;
const ROOT_FROM_RIGHT: NodeId = 0;
const ROOT_FROM_LEFT: NodeId = 1;
const NONE: u32 = u32::MAX;
const INLINE_LABEL: usize = 14;
/// Node flag: it has a `*` child (so a lookup probes for one only where it exists).
const HAS_STAR: u8 = 1;
/// Node flag: it has any child (so a lookup stops at leaves without probing).
const HAS_CHILDREN: u8 = 2;

/// A trie node together with the edge that leads to it. 32 bytes, aligned to 32 so a
/// node never straddles two cache lines.
#[derive(Clone, Copy)]
#[repr(align(32))]
struct Node {
    id: NodeId,
    parent: NodeId,
    /// Slot of the pattern that ends exactly here.
    exact_end: u32,
    /// Slot of the `**` pattern whose other labels end here (it needs ≥ 1 more label).
    many_end: u32,
    flags: u8,
    label: Label,
}

/// A label stored inline when short, or as a range of the matcher's arena.
#[derive(Clone, Copy)]
struct Label {
    len: u8,
    bytes: [u8; INLINE_LABEL],
}

impl Label {
    fn new(label: &str, arena: &mut String) -> Self {
        let mut bytes = [0u8; INLINE_LABEL];
        if label.len() <= INLINE_LABEL {
            bytes[..label.len()].copy_from_slice(label.as_bytes());
        } else {
            let offset = u32::try_from(arena.len()).expect("label arena stays under 4 GiB");
            bytes[..4].copy_from_slice(&offset.to_le_bytes());
            arena.push_str(label);
        }
        Self {
            len: label.len() as u8,
            bytes,
        }
    }

    fn bytes<'a>(&'a self, arena: &'a str) -> &'a [u8] {
        let len = self.len as usize;
        if len <= INLINE_LABEL {
            &self.bytes[..len]
        } else {
            let offset = u32::from_le_bytes(self.bytes[..4].try_into().expect("4 bytes")) as usize;
            &arena.as_bytes()[offset..offset + len]
        }
    }
}

impl Node {
    const EMPTY: Node = Node {
        id: NONE,
        parent: NONE,
        exact_end: NONE,
        many_end: NONE,
        flags: 0,
        label: Label {
            len: 0,
            bytes: [0; INLINE_LABEL],
        },
    };

    fn is(&self, parent: NodeId, label: &str, arena: &str) -> bool {
        self.parent == parent && self.label.bytes(arena) == label.as_bytes()
    }
}

/// The trie's nodes in one open-addressing table with linear probing, keyed by
/// (parent, label). A probe that hits reads one cache line. hashbrown's SwissTable,
/// the first choice, reads a control group and then the bucket, two cache lines apart;
/// at a million patterns that second miss per label was most of the lookup time
/// (docs/benchmarks.md), which is why this small table exists. Nodes are never removed.
#[derive(Clone)]
struct NodeTable {
    nodes: Vec<Node>,
    mask: usize,
    len: usize,
}

impl NodeTable {
    /// Keeps the load at or below 3/4, so hits take about 1.5 probes on average.
    fn with_capacity(nodes: usize) -> Self {
        let capacity = (nodes * 4 / 3 + 1).next_power_of_two().max(16);
        Self {
            nodes: vec![Node::EMPTY; capacity],
            mask: capacity - 1,
            len: 0,
        }
    }

    fn allocation_size(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
    }

    fn find_index(&self, hash: u64, mut eq: impl FnMut(&Node) -> bool) -> Option<usize> {
        let mut i = hash as usize & self.mask;
        loop {
            let node = &self.nodes[i];
            if node.id == NONE {
                return None;
            }
            if eq(node) {
                return Some(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    fn insert(&mut self, hash: u64, node: Node, rehash: impl Fn(&Node) -> u64) {
        if (self.len + 1) * 4 > self.nodes.len() * 3 {
            let mut bigger = NodeTable::with_capacity(self.nodes.len());
            for old in self.nodes.iter().filter(|n| n.id != NONE) {
                bigger.place(rehash(old), *old);
            }
            *self = bigger;
        }
        self.place(hash, node);
    }

    fn place(&mut self, hash: u64, node: Node) {
        let mut i = hash as usize & self.mask;
        while self.nodes[i].id != NONE {
            i = (i + 1) & self.mask;
        }
        self.nodes[i] = node;
        self.len += 1;
    }
}

/// An immutable-by-convention map from hostname patterns to values, answering "which
/// pattern is the most specific match for this host" in time independent of its size.
///
/// Removing a pattern leaves its trie nodes behind (they cost memory, not correctness);
/// rebuilding the matcher from scratch compacts it. Cloning copies flat arrays.
#[derive(Clone)]
pub struct HostMatcher<V> {
    nodes: NodeTable,
    hasher: foldhash::fast::RandomState,
    arena: String,
    /// Pattern values by slot; a node's `exact_end` / `many_end` is a slot index.
    values: Vec<Option<V>>,
    /// Precedence by slot, kept apart from the values: only wildcard matches need it.
    specificities: Vec<Specificity>,
    free_slots: Vec<u32>,
    next_node: NodeId,
    /// Flags of the two roots, which are not stored in the table.
    root_flags: [u8; 2],
    len: usize,
    left_anchored: usize,
}

impl<V> Default for HostMatcher<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> HostMatcher<V> {
    /// An empty matcher.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty matcher with room for about `patterns` patterns.
    pub fn with_capacity(patterns: usize) -> Self {
        Self {
            nodes: NodeTable::with_capacity(patterns + patterns / 8),
            hasher: foldhash::fast::RandomState::default(),
            arena: String::new(),
            values: Vec::with_capacity(patterns),
            specificities: Vec::with_capacity(patterns),
            free_slots: Vec::new(),
            next_node: ROOT_FROM_LEFT + 1,
            root_flags: [0, 0],
            len: 0,
            left_anchored: 0,
        }
    }

    /// Number of patterns.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every value, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.values.iter().flatten()
    }

    /// Bytes of heap this matcher holds, excluding what the values themselves own.
    pub fn heap_bytes(&self) -> usize {
        self.nodes.allocation_size()
            + self.arena.capacity()
            + self.values.capacity() * std::mem::size_of::<Option<V>>()
            + self.specificities.capacity() * std::mem::size_of::<Specificity>()
            + self.free_slots.capacity() * 4
    }

    fn hash(&self, parent: NodeId, label: &str) -> u64 {
        hash_edge(&self.hasher, parent, label.as_bytes())
    }

    fn child(&self, parent: NodeId, label: &str) -> Option<&Node> {
        let hash = self.hash(parent, label);
        let arena = self.arena.as_str();
        let i = self
            .nodes
            .find_index(hash, |n| n.is(parent, label, arena))?;
        Some(&self.nodes.nodes[i])
    }

    /// Finds or creates the child of `parent` for `label`, returning its id.
    /// `parent_key` is the (grandparent, label) under which `parent` is stored, or
    /// `None` when `parent` is a root.
    fn child_or_insert(
        &mut self,
        parent_key: Option<(NodeId, &str)>,
        parent: NodeId,
        label: &str,
    ) -> NodeId {
        if let Some(node) = self.child(parent, label) {
            return node.id;
        }
        let flags = if label == "*" {
            HAS_STAR | HAS_CHILDREN
        } else {
            HAS_CHILDREN
        };
        match parent_key {
            None => self.root_flags[parent as usize] |= flags,
            Some((grandparent, parent_label)) => {
                self.node_mut(grandparent, parent_label)
                    .expect("the parent exists")
                    .flags |= flags;
            }
        }
        let id = self.next_node;
        self.next_node = self
            .next_node
            .checked_add(1)
            .expect("fewer than 4 billion trie nodes");
        let node = Node {
            id,
            parent,
            exact_end: NONE,
            many_end: NONE,
            flags: 0,
            label: Label::new(label, &mut self.arena),
        };
        let hash = self.hash(parent, label);
        let (hasher, arena) = (&self.hasher, self.arena.as_str());
        self.nodes.insert(hash, node, |n| {
            hash_edge(hasher, n.parent, n.label.bytes(arena))
        });
        id
    }

    fn node_mut(&mut self, parent: NodeId, label: &str) -> Option<&mut Node> {
        let hash = self.hash(parent, label);
        let arena = self.arena.as_str();
        let i = self
            .nodes
            .find_index(hash, |n| n.is(parent, label, arena))?;
        Some(&mut self.nodes.nodes[i])
    }

    /// Adds a pattern, replacing and returning the value it had.
    pub fn insert(&mut self, pattern: &HostPattern, value: V) -> Option<V> {
        let path = TriePath::of(pattern);
        let mut node = path.root;
        let mut key = None;
        for &label in path.init() {
            let child = self.child_or_insert(key, node, label);
            key = Some((node, label));
            node = child;
        }
        let end_label = path.end_label();
        self.child_or_insert(key, node, end_label);
        let specificity = Specificity::of(pattern);
        let index = match self.free_slots.pop() {
            Some(i) => {
                self.values[i as usize] = Some(value);
                self.specificities[i as usize] = specificity;
                i
            }
            None => {
                self.values.push(Some(value));
                self.specificities.push(specificity);
                u32::try_from(self.values.len() - 1).expect("fewer than 4 billion patterns")
            }
        };
        let end = self
            .node_mut(node, end_label)
            .expect("the node was just inserted");
        let old = std::mem::replace(path.end_field(end), index);
        if old == NONE {
            self.len += 1;
            if path.root == ROOT_FROM_LEFT {
                self.left_anchored += 1;
            }
            return None;
        }
        self.free_slots.push(old);
        self.values[old as usize].take()
    }

    /// Removes a pattern, returning its value.
    pub fn remove(&mut self, pattern: &HostPattern) -> Option<V> {
        let path = TriePath::of(pattern);
        let mut node = path.root;
        for label in path.init() {
            node = self.child(node, label)?.id;
        }
        let end = self.node_mut(node, path.end_label())?;
        let old = std::mem::replace(path.end_field(end), NONE);
        if old == NONE {
            return None;
        }
        self.len -= 1;
        if path.root == ROOT_FROM_LEFT {
            self.left_anchored -= 1;
        }
        self.free_slots.push(old);
        self.values[old as usize].take()
    }

    /// The value of the most specific pattern matching `host`, which must already be
    /// normalised (see [`crate::hostname::normalize_request_host`]).
    pub fn lookup(&self, host: &str) -> Option<&V> {
        if host.is_empty() {
            return None;
        }
        let mut best: Option<u32> = None;
        let flags = self.root_flags[ROOT_FROM_RIGHT as usize];
        let labels = Labels::FromRight(host);
        let exact = self.search(ROOT_FROM_RIGHT, flags, labels, true, &mut best);
        if !exact && self.left_anchored > 0 {
            let flags = self.root_flags[ROOT_FROM_LEFT as usize];
            let labels = Labels::FromLeft(host);
            self.search(ROOT_FROM_LEFT, flags, labels, false, &mut best);
        }
        best.map(|i| {
            self.values[i as usize]
                .as_ref()
                .expect("a trie node only points at live slots")
        })
    }

    fn offer(&self, candidate: u32, best: &mut Option<u32>) {
        if candidate == NONE {
            return;
        }
        let better = match *best {
            None => true,
            Some(current) => {
                self.specificities[candidate as usize] > self.specificities[current as usize]
            }
        };
        if better {
            *best = Some(candidate);
        }
    }

    /// Depth-first search of every path matching `labels` below `parent`, literal
    /// labels first. Returns true when it found an exact pattern, which nothing beats;
    /// `literal_only` says whether the path so far used only literal labels.
    fn search(
        &self,
        parent: NodeId,
        parent_flags: u8,
        labels: Labels<'_>,
        literal_only: bool,
        best: &mut Option<u32>,
    ) -> bool {
        let (first, rest) = labels.split();
        if parent_flags & HAS_CHILDREN == 0 {
            return false;
        }
        if let Some(node) = self.child(parent, first)
            && self.visit(node, rest, literal_only, best)
        {
            return true;
        }
        if parent_flags & HAS_STAR != 0
            && let Some(node) = self.child(parent, "*")
        {
            self.visit(node, rest, false, best);
        }
        false
    }

    fn visit(
        &self,
        node: &Node,
        rest: Option<Labels<'_>>,
        literal_only: bool,
        best: &mut Option<u32>,
    ) -> bool {
        let Some(rest) = rest else {
            if literal_only && node.exact_end != NONE {
                *best = Some(node.exact_end);
                return true;
            }
            self.offer(node.exact_end, best);
            return false;
        };
        // `**` needs at least one more label, which `rest` provides.
        self.offer(node.many_end, best);
        self.search(node.id, node.flags, rest, literal_only, best)
    }
}

/// The labels of a host still to be matched, taken from one end without copying.
#[derive(Clone, Copy)]
enum Labels<'h> {
    FromRight(&'h str),
    FromLeft(&'h str),
}

impl<'h> Labels<'h> {
    /// The next label in trie order and what remains after it.
    /// A byte loop, not `rsplit_once('.')`: labels are short, and the generic char
    /// searcher's set-up cost more than the search (callgrind, docs/benchmarks.md).
    fn split(self) -> (&'h str, Option<Labels<'h>>) {
        match self {
            Labels::FromRight(h) => match h.bytes().rposition(|b| b == b'.') {
                Some(i) => (&h[i + 1..], Some(Labels::FromRight(&h[..i]))),
                None => (h, None),
            },
            Labels::FromLeft(h) => match h.bytes().position(|b| b == b'.') {
                Some(i) => (&h[..i], Some(Labels::FromLeft(&h[i + 1..]))),
                None => (h, None),
            },
        }
    }
}

/// The labels of a pattern in trie order, without a trailing `**`.
struct TriePath<'p> {
    root: NodeId,
    /// The pattern ends in `**` (in trie order): it ends at the node's `many_end`.
    many: bool,
    labels: Vec<&'p str>,
}

impl<'p> TriePath<'p> {
    fn of(pattern: &'p HostPattern) -> Self {
        let (root, mut labels): (NodeId, Vec<&str>) = if pattern.is_prefix_anchored() {
            (ROOT_FROM_LEFT, pattern.as_str().split('.').collect())
        } else {
            (ROOT_FROM_RIGHT, pattern.as_str().rsplit('.').collect())
        };
        let many = labels.last() == Some(&"**");
        if many {
            labels.pop();
        }
        // A valid pattern has a literal label, so at least one label remains.
        Self { root, many, labels }
    }

    fn init(&self) -> &[&'p str] {
        &self.labels[..self.labels.len() - 1]
    }

    fn end_label(&self) -> &'p str {
        self.labels[self.labels.len() - 1]
    }

    fn end_field<'n>(&self, node: &'n mut Node) -> &'n mut u32 {
        if self.many {
            &mut node.many_end
        } else {
            &mut node.exact_end
        }
    }
}

fn hash_edge(state: &foldhash::fast::RandomState, parent: NodeId, label: &[u8]) -> u64 {
    let mut h = state.build_hasher();
    h.write_u32(parent);
    h.write(label);
    h.finish()
}

impl<V> FromIterator<(HostPattern, V)> for HostMatcher<V> {
    fn from_iter<I: IntoIterator<Item = (HostPattern, V)>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut matcher = Self::with_capacity(iter.size_hint().0);
        for (pattern, value) in iter {
            matcher.insert(&pattern, value);
        }
        matcher
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(patterns: &[&str]) -> HostMatcher<String> {
        patterns
            .iter()
            .map(|p| (HostPattern::parse(p).unwrap(), p.to_string()))
            .collect()
    }

    fn lookup(m: &HostMatcher<String>, host: &str) -> Option<String> {
        m.lookup(host).cloned()
    }

    /// Every precedence rule, each checked with the patterns added in both orders.
    #[test]
    fn precedence_rules_hold_in_any_insertion_order() {
        let cases: &[(&[&str], &str, Option<&str>)] = &[
            // exact beats * beats **
            (
                &["app.example.com", "*.example.com"],
                "app.example.com",
                Some("app.example.com"),
            ),
            (
                &["*.example.com", "**.example.com"],
                "app.example.com",
                Some("*.example.com"),
            ),
            (
                &["app.example.com", "**.example.com"],
                "app.example.com",
                Some("app.example.com"),
            ),
            // more literal labels win
            (
                &["*.example.com", "*.*.com"],
                "a.example.com",
                Some("*.example.com"),
            ),
            (
                &["**.example.com", "**.com"],
                "a.example.com",
                Some("**.example.com"),
            ),
            (
                &["**.example.com", "payments.**"],
                "payments.example.com",
                Some("**.example.com"),
            ),
            // right-anchored ** beats left-anchored ** with as many literals
            (&["**.com", "payments.**"], "payments.com", Some("**.com")),
            // literal nearer the anchored end wins
            (
                &["*.eu.example.com", "api.*.example.com"],
                "api.eu.example.com",
                Some("*.eu.example.com"),
            ),
            (&["a.*.**", "*.b.**"], "a.b.c", Some("a.*.**")),
            // more labels win when literals are equal
            (
                &["**.*.example.com", "**.example.com"],
                "a.b.example.com",
                Some("**.*.example.com"),
            ),
            (
                &["**.*.example.com", "**.example.com"],
                "b.example.com",
                Some("**.example.com"),
            ),
            // wildcards match whole labels only, in any position
            (
                &["api.*.example.com"],
                "api.eu.example.com",
                Some("api.*.example.com"),
            ),
            (&["api.*.example.com"], "api.example.com", None),
            (&["*.example.com"], "example.com", None),
            (&["*.example.com"], "a.b.example.com", None),
            (
                &["**.example.com"],
                "a.b.example.com",
                Some("**.example.com"),
            ),
            (&["**.example.com"], "example.com", None),
            (&["payments.**"], "payments.a.b.c", Some("payments.**")),
            (&["payments.**"], "payments", None),
            (&["payments.**"], "x.payments.com", None),
            (&["app.example.com"], "other.example.com", None),
            (&["app.example.com"], "example.com", None),
        ];
        for (patterns, host, want) in cases {
            let forward = table(patterns);
            let reversed: Vec<&str> = patterns.iter().rev().copied().collect();
            let backward = table(&reversed);
            let want = want.map(str::to_owned);
            assert_eq!(lookup(&forward, host), want, "{patterns:?} {host}");
            assert_eq!(lookup(&backward, host), want, "{reversed:?} {host}");
        }
    }

    #[test]
    fn insert_replaces_and_remove_forgets() {
        let mut m = table(&["*.example.com", "app.example.com", "payments.**"]);
        assert_eq!(m.len(), 3);
        let app = HostPattern::parse("app.example.com").unwrap();
        assert_eq!(m.insert(&app, "new".into()), Some("app.example.com".into()));
        assert_eq!(m.len(), 3);
        assert_eq!(lookup(&m, "app.example.com").as_deref(), Some("new"));
        assert_eq!(m.remove(&app), Some("new".into()));
        assert_eq!(m.remove(&app), None);
        assert_eq!(
            lookup(&m, "app.example.com").as_deref(),
            Some("*.example.com")
        );
        let pay = HostPattern::parse("payments.**").unwrap();
        assert_eq!(m.remove(&pay), Some("payments.**".into()));
        assert_eq!(lookup(&m, "payments.example.org"), None);
        assert_eq!(m.len(), 1);
        // A removed slot is reused.
        m.insert(&pay, "again".into());
        assert_eq!(lookup(&m, "payments.x").as_deref(), Some("again"));
    }

    #[test]
    fn long_labels_are_matched_through_the_arena() {
        let long = "a".repeat(63);
        let pattern = format!("{long}.example.com");
        let m = table(&[&pattern, "*.example.com"]);
        assert_eq!(lookup(&m, &pattern), Some(pattern.clone()));
        let other = format!("{}b.example.com", "a".repeat(62));
        assert_eq!(lookup(&m, &other).as_deref(), Some("*.example.com"));
    }

    #[test]
    fn the_table_grows_without_losing_nodes() {
        let names: Vec<String> = (0..5_000)
            .map(|i| format!("app{i}.dom{}.example", i % 7))
            .collect();
        let patterns: Vec<&str> = names.iter().map(String::as_str).collect();
        let m = table(&patterns);
        assert_eq!(m.len(), 5_000);
        for name in &names {
            assert_eq!(lookup(&m, name).as_ref(), Some(name));
        }
        assert_eq!(lookup(&m, "app5000.dom0.example"), None);
    }

    #[test]
    fn empty_matcher_finds_nothing() {
        let m: HostMatcher<()> = HostMatcher::new();
        assert!(m.lookup("example.com").is_none());
        assert!(m.is_empty());
    }
}
