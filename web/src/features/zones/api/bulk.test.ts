import { describe, expect, it } from "vitest";
import { mapBulkProblems, parseBulk, parseBulkCsv, type ParsedBulk } from "./bulk";

function ok(parsed: ParsedBulk) {
  if (!parsed.ok) throw new Error(`expected ok, got ${JSON.stringify(parsed.problems)}`);
  return parsed;
}
function problems(parsed: ParsedBulk) {
  if (parsed.ok) throw new Error("expected problems");
  return parsed.problems;
}

describe("CSV → the bulk request", () => {
  it("maps every column to the API's ZoneSpec", () => {
    const csv = [
      "Hostname,Path,upstreams,force_https,preserve_host,allow,connect_ms,read_ms",
      'a.example.com,/api,http://10.0.0.1:8080*3 http://10.0.0.2:8080,yes,0,"10.0.0.0/8; 192.168.1.5",500,30000',
      "b.example.com,,,,,,,",
    ].join("\r\n");
    const parsed = ok(parseBulkCsv(csv));
    expect(parsed.items).toBe(2);
    expect(parsed.request).toEqual({
      create: [
        {
          hostname: "a.example.com",
          path_prefix: "/api",
          backend: { kind: "upstreams", upstreams: [{ url: "http://10.0.0.1:8080", weight: 3 }, { url: "http://10.0.0.2:8080", weight: 1 }] },
          force_https: true,
          preserve_host: false,
          allow: ["10.0.0.0/8", "192.168.1.5"],
          timeouts: { connect_ms: 500, read_ms: 30000 },
        },
        { hostname: "b.example.com", path_prefix: "", backend: { kind: "none" }, force_https: false, preserve_host: false, allow: [] },
      ],
    });
    expect(parsed.sources.create.map((s) => s.row)).toEqual([2, 3]);
    expect(parsed.sources.headers).toMatchObject({ hostname: "Hostname", path_prefix: "Path" });
  });

  it("maps a named backend and its parameters", () => {
    const parsed = ok(parseBulkCsv("hostname,backend,params\nc.example.com,svc,port=8080;region=eu\n"));
    expect(parsed.request.create?.[0]?.backend).toEqual({ kind: "named", name: "svc", params: { port: "8080", region: "eu" } });
  });

  it("makes updates and deletes of rows with an id", () => {
    const parsed = ok(parseBulkCsv("id,action,hostname,upstreams\nid-1,,a.example.com,http://x:1\nid-2,delete,,\n,create,n.example.com,http://y:2\n"));
    expect(parsed.request.update).toEqual([{ id: "id-1", zone: expect.objectContaining({ hostname: "a.example.com" }) as unknown }]);
    expect(parsed.request.delete).toEqual(["id-2"]);
    expect(parsed.request.create?.map((z) => z.hostname)).toEqual(["n.example.com"]);
    expect(parsed.sources.delete[0]?.row).toBe(3);
  });

  it("takes a BOM, blank lines and quoted line breaks, numbering rows by their line", () => {
    const parsed = ok(parseBulkCsv('\uFEFFhostname,upstreams\n\na.example.com,"http://a:1\nhttp://b:1"\n\nb.example.com,http://c:1\n'));
    expect(parsed.sources.create.map((s) => s.row)).toEqual([3, 6]);
    expect(parsed.request.create?.[0]?.backend).toEqual({ kind: "upstreams", upstreams: [{ url: "http://a:1", weight: 1 }, { url: "http://b:1", weight: 1 }] });
  });

  it("refuses unknown and repeated columns, and a header without hostname", () => {
    const found = problems(parseBulkCsv("hostname,colour,host\nx,y,z\n"));
    expect(found.map((p) => [p.row, p.column])).toEqual([
      [1, "colour"],
      [1, "host"],
    ]);
    expect(found[0]?.problem).toMatch(/unknown column "colour"/);
    expect(problems(parseBulkCsv("path\n/x\n"))[0]?.problem).toMatch(/no hostname column/);
  });

  it("reports each bad row with its row number, column and value, and sends nothing", () => {
    const csv = [
      "hostname,upstreams,force_https,connect_ms",
      "ok.example.com,http://a:1,true,10",
      "b.example.com,http://a:1,maybe,10", // row 3: bad boolean
      "c.example.com,http://a:1*x,false,soon", // row 4: bad weight and number
      "d.example.com,http://a:1", // row 5: too few columns
      'e.example.com,"http://a:1,true,1', // row 6: unterminated quote
    ].join("\n");
    const found = problems(parseBulkCsv(csv));
    expect(found).toEqual([
      { row: 6, item: null, label: null, column: null, value: null, problem: "the quote opened on line 6 is never closed" },
      { row: 3, item: null, label: "b.example.com", column: "force_https", value: "maybe", problem: "not a boolean (true or false)" },
      { row: 4, item: null, label: "c.example.com", column: "upstreams", value: "http://a:1*x", problem: 'weight "x" is not a whole number' },
      { row: 4, item: null, label: "c.example.com", column: "connect_ms", value: "soon", problem: "not a whole number of milliseconds" },
      { row: 5, item: null, label: "d.example.com", column: null, value: null, problem: "2 columns, but the header has 4 (a comma inside a value needs quotes)" },
    ]);
  });

  it("refuses rows mixing both kinds of backend, parameters without one, and bad actions", () => {
    const found = problems(parseBulkCsv("hostname,upstreams,backend,params,action,id\na.x,http://a:1,svc,,,\nb.x,,,port=1,,\nc.x,,,,move,\nd.x,,,,update,\n"));
    expect(found.map((p) => [p.row, p.column])).toEqual([
      [2, "backend"],
      [3, "params"],
      [4, "action"],
      [5, "id"],
    ]);
  });

  it("says so when there is nothing to send", () => {
    expect(problems(parseBulk("  \n"))[0]?.problem).toMatch(/Nothing to send/);
    expect(problems(parseBulk("hostname\n"))[0]?.problem).toMatch(/header is the only row/);
  });
});

describe("JSON → the bulk request", () => {
  it("takes the API's body as it is", () => {
    const body = { create: [{ hostname: "a.x", backend: { kind: "none" } }], update: [{ id: "u", zone: { hostname: "b.x", backend: { kind: "none" } } }], delete: ["d"] };
    const parsed = ok(parseBulk(JSON.stringify(body)));
    expect(parsed.request).toEqual(body);
    expect(parsed.sources.update[0]?.label).toBe("b.x");
    expect(parsed.items).toBe(3);
  });

  it("takes an array of zones as creates", () => {
    const parsed = ok(parseBulk('[{"hostname":"a.x","path_prefix":"/p","backend":{"kind":"none"}}]'));
    expect(parsed.request).toEqual({ create: [{ hostname: "a.x", path_prefix: "/p", backend: { kind: "none" } }] });
    expect(parsed.sources.create[0]).toMatchObject({ item: "entry 1", label: "a.x/p" });
  });

  it("refuses what is not the bulk body", () => {
    expect(problems(parseBulk("{bad"))[0]?.problem).toMatch(/^Not JSON/);
    expect(problems(parseBulk('{"zones":[]}'))[0]?.problem).toMatch(/Unknown key "zones"/);
    expect(problems(parseBulk('{"create":{}}'))[0]?.problem).toMatch(/must be an array/);
    expect(problems(parseBulk('{"delete":[1]}'))[0]).toMatchObject({ item: "delete[0]", value: "1" });
  });
});

describe("the API's problems → the user's rows", () => {
  const csv = [
    "hostname,path,upstreams,allow,backend,params,id,action",
    "a.example.com,,http://a:1,,,,,",
    "b.nowhere.test,/x,http://a:1 bad-url,10.0.0.0/8 nonsense,,,,",
    "c.example.com,,,,svc,port=x,,",
    "d.example.com,,http://a:1,,,,zone-9,update",
    ",,,,,,zone-7,delete",
  ].join("\n");
  const { sources } = ok(parseBulkCsv(csv));

  it("names the row, column and value of each problem", () => {
    const mapped = mapBulkProblems(
      [
        { field: "update[0].id", problem: "no such zone" },
        { field: "create[1].hostname", problem: "lies in no domain" },
        { field: "create[1].backend.upstreams[1].url", problem: "not a URL" },
        { field: "create[1].allow[1]", problem: "not a CIDR" },
        { field: "create[1].path_prefix", problem: "duplicate" },
        { field: "create[2].backend.params.port", problem: "not a port" },
        { field: "create[2].backend.name", problem: "no such backend" },
        { field: "delete[0]", problem: "no such zone" },
        { field: "update[0].zone.hostname", problem: "lies in no domain" },
        { field: "", problem: "too many" },
      ],
      sources,
    );
    expect(mapped.map((p) => [p.row, p.column, p.value, p.problem])).toEqual([
      [null, null, null, "too many"],
      [3, "hostname", "b.nowhere.test", "lies in no domain"],
      [3, "upstreams", "bad-url", "not a URL"],
      [3, "allow", "nonsense", "not a CIDR"],
      [3, "path", "/x", "duplicate"],
      [4, "params", "port=x", "not a port"],
      [4, "backend", "svc", "no such backend"],
      [5, "id", "zone-9", "no such zone"],
      [5, "hostname", "d.example.com", "lies in no domain"],
      [6, "id", "zone-7", "no such zone"],
    ]);
    expect(mapped[1]).toMatchObject({ item: "create[1]", label: "b.nowhere.test/x" });
  });

  it("keeps a field it cannot place, naming it", () => {
    expect(mapBulkProblems([{ field: "create[9].hostname", problem: "?" }], sources)[0]).toMatchObject({ row: null, column: "create[9].hostname" });
    expect(mapBulkProblems([{ field: "create[0].whatever", problem: "?" }], sources)[0]).toMatchObject({ row: 2, column: "whatever", value: null });
  });

  it("reads the value from JSON by the field's path", () => {
    const parsed = ok(parseBulk(JSON.stringify({ create: [{ hostname: "a.x", backend: { kind: "upstreams", upstreams: [{ url: "nope", weight: 1 }] } }], update: [{ id: "u-1", zone: { hostname: "b.x", backend: { kind: "none" } } }] })));
    const mapped = mapBulkProblems(
      [
        { field: "create[0].backend.upstreams[0].url", problem: "not a URL" },
        { field: "update[0].id", problem: "no such zone" },
        { field: "update[0].zone.hostname", problem: "lies in no domain" },
      ],
      parsed.sources,
    );
    expect(mapped.map((p) => [p.item, p.label, p.column, p.value])).toEqual([
      ["create[0]", "a.x", "backend.upstreams[0].url", "nope"],
      ["update[0]", "b.x", "id", "u-1"],
      ["update[0]", "b.x", "hostname", "b.x"],
    ]);
  });
});

describe("bulk labels", () => {
  it("name a JSON entry by hostname, prefix and match conditions", () => {
    const parsed = parseBulk(JSON.stringify([
      { hostname: "a.example.com", path_prefix: "/api", backend: { kind: "none" } },
      { hostname: "a.example.com", path_prefix: "/api", match: { methods: ["POST"], query: [{ name: "v", equals: "2" }] }, backend: { kind: "none" } },
    ]));
    expect(parsed.ok && parsed.sources.create.map((s) => s.label)).toEqual(["a.example.com/api", "a.example.com/api [POST, ?v=2]"]);
    if (!parsed.ok) return;
    expect(mapBulkProblems([{ field: "create[1].match.methods[0]", problem: "bad" }], parsed.sources)[0]).toMatchObject({ label: "a.example.com/api [POST, ?v=2]", column: "match.methods[0]", value: "POST" });
  });
});

describe("bulk CSV: the match column", () => {
  it("sends JSON conditions, names the row by them, and refuses what is not a JSON object", () => {
    const parsed = parseBulkCsv('hostname,upstreams,conditions\na.example.com,http://10.0.0.1:80,"{""methods"":[""POST""]}"\nb.example.com,http://10.0.0.1:80,\n');
    expect(parsed.ok && parsed.request.create?.map((z) => z.match)).toEqual([{ methods: ["POST"] }, undefined]);
    expect(parsed.ok && parsed.sources.create.map((s) => s.label)).toEqual(["a.example.com [POST]", "b.example.com"]);
    if (parsed.ok) {
      expect(mapBulkProblems([{ field: "create[0].match.methods[0]", problem: "bad" }], parsed.sources)[0]).toMatchObject({ row: 2, column: "conditions", value: '{"methods":["POST"]}' });
    }
    const bad = parseBulkCsv("hostname,match\na.example.com,POST\nb.example.com,[1]\n");
    expect(bad.ok ? [] : bad.problems.map((p) => [p.row, p.column, p.problem])).toEqual([
      [2, "match", 'not JSON (e.g. {"methods":["POST"]})'],
      [3, "match", 'not a JSON object (e.g. {"methods":["POST"]})'],
    ]);
  });
});
