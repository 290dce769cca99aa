// CSV as RFC 4180 reads it: fields separated by commas, records by CRLF (LF or a lone CR
// too), a field in double quotes may hold commas, line breaks and `""` (one quote).
// Beyond the RFC: a UTF-8 byte-order mark is dropped, blank lines (or lines of only
// commas and spaces, as spreadsheets export) are skipped, and spaces around a quoted
// field are allowed. What the RFC forbids is reported with the line it starts on,
// never guessed at: an unterminated quote, a quote inside an unquoted field, text after
// a closing quote.

export interface CsvRecord {
  /** The line (1-based, of the text as given) the record starts on. */
  line: number;
  fields: string[];
}

export interface CsvProblem {
  line: number;
  problem: string;
}

export interface CsvResult {
  records: CsvRecord[];
  problems: CsvProblem[];
}

const BOM = "\uFEFF";

function blank(fields: string[]): boolean {
  return fields.every((f) => f.trim() === "");
}

/** Every record of `text`, and what keeps any from being read. */
export function parseCsv(input: string): CsvResult {
  const text = input.startsWith(BOM) ? input.slice(1) : input;
  const records: CsvRecord[] = [];
  const problems: CsvProblem[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;

  /** Consumes a line break at i (CRLF, LF or CR); true if there was one. */
  const lineBreak = (): boolean => {
    const c = text[i];
    if (c === "\r") {
      i += text[i + 1] === "\n" ? 2 : 1;
      line++;
      return true;
    }
    if (c === "\n") {
      i++;
      line++;
      return true;
    }
    return false;
  };

  /** Skips to the start of the next record (after a problem in this one). */
  const skipRecord = () => {
    while (i < n && !lineBreak()) i++;
  };

  while (i < n) {
    const start = line;
    const fields: string[] = [];
    let bad: string | null = null;
    // One record: fields until a line break or the end.
    for (;;) {
      // Leading spaces before a quote are not part of a quoted field.
      let j = i;
      while (text[j] === " " || text[j] === "\t") j++;
      if (text[j] === '"') {
        const quoteLine = line;
        i = j + 1;
        let value = "";
        let closed = false;
        while (i < n) {
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              value += '"';
              i += 2;
              continue;
            }
            i++;
            closed = true;
            break;
          }
          if (c === "\r" || c === "\n") {
            // A line break inside quotes is part of the field (CRLF kept as LF).
            lineBreak();
            value += "\n";
            continue;
          }
          value += text.charAt(i);
          i++;
        }
        if (!closed) {
          bad = `the quote opened on line ${quoteLine} is never closed`;
          break;
        }
        while (text[i] === " " || text[i] === "\t") i++;
        if (i < n && text[i] !== "," && text[i] !== "\r" && text[i] !== "\n") {
          bad = `text after the closing quote of field ${fields.length + 1} (a quote inside a quoted field is written "")`;
          skipRecord();
          break;
        }
        fields.push(value);
      } else {
        let value = "";
        while (i < n && text[i] !== "," && text[i] !== "\r" && text[i] !== "\n") {
          if (text[i] === '"') {
            bad = `a quote inside the unquoted field ${fields.length + 1} (quote the whole field, and write a quote inside it as "")`;
            break;
          }
          value += text.charAt(i);
          i++;
        }
        if (bad) {
          skipRecord();
          break;
        }
        fields.push(value);
      }
      if (i < n && text[i] === ",") {
        i++;
        continue;
      }
      lineBreak();
      break;
    }
    if (bad) problems.push({ line: start, problem: bad });
    else if (!blank(fields)) records.push({ line: start, fields });
  }
  return { records, problems };
}
