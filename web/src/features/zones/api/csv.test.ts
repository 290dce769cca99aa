import { describe, expect, it } from "vitest";
import { parseCsv } from "./csv";

const fields = (text: string) => parseCsv(text).records.map((r) => r.fields);

describe("parseCsv", () => {
  it("reads plain records, LF or CRLF or CR, with or without a final line break", () => {
    expect(fields("a,b\n1,2\n")).toEqual([["a", "b"], ["1", "2"]]);
    expect(fields("a,b\r\n1,2\r\n")).toEqual([["a", "b"], ["1", "2"]]);
    expect(fields("a,b\r1,2")).toEqual([["a", "b"], ["1", "2"]]);
    expect(fields("a,b\n1,2")).toEqual([["a", "b"], ["1", "2"]]);
  });

  it("keeps empty fields, leading and trailing", () => {
    expect(fields(",x,\n")).toEqual([["", "x", ""]]);
  });

  it("reads quoted fields with commas, escaped quotes and line breaks", () => {
    expect(fields('a,"b,c","say ""hi""","two\r\nlines"\n')).toEqual([["a", "b,c", 'say "hi"', "two\nlines"]]);
    expect(fields('""')).toEqual([]); // one empty field: a blank record
    expect(fields('x,""\n')).toEqual([["x", ""]]);
  });

  it("allows spaces around a quoted field", () => {
    expect(fields('a,  "b" ,c')).toEqual([["a", "b", "c"]]);
  });

  it("drops a byte-order mark", () => {
    expect(fields("\uFEFFhostname,path\nx,y")).toEqual([["hostname", "path"], ["x", "y"]]);
  });

  it("skips blank lines and lines of only commas, and numbers records by their first line", () => {
    const { records, problems } = parseCsv('h\n\n\r\n  \n,,\nx\n"multi\nline"\ny\n');
    expect(problems).toEqual([]);
    expect(records).toEqual([
      { line: 1, fields: ["h"] },
      { line: 6, fields: ["x"] },
      { line: 7, fields: ["multi\nline"] },
      { line: 9, fields: ["y"] },
    ]);
  });

  it("reports an unterminated quote with the line it was opened on", () => {
    const { records, problems } = parseCsv('h,v\nok,1\nbad,"open\nmore\n');
    expect(records.map((r) => r.line)).toEqual([1, 2]);
    expect(problems).toEqual([{ line: 3, problem: "the quote opened on line 3 is never closed" }]);
  });

  it("reports a quote inside an unquoted field and text after a closing quote, then reads on", () => {
    const { records, problems } = parseCsv('h,v\nab"c,1\n"x"y,2\nfine,3\n');
    expect(problems.map((p) => p.line)).toEqual([2, 3]);
    expect(problems[0]?.problem).toMatch(/quote inside the unquoted field 1/);
    expect(problems[1]?.problem).toMatch(/text after the closing quote of field 1/);
    expect(records).toEqual([
      { line: 1, fields: ["h", "v"] },
      { line: 4, fields: ["fine", "3"] },
    ]);
  });

  it("reads nothing from empty text", () => {
    expect(parseCsv("")).toEqual({ records: [], problems: [] });
    expect(parseCsv("\uFEFF")).toEqual({ records: [], problems: [] });
  });
});
