import { Banner } from "@/components/ui/Banner";
import { Table, TBody, Td, Th, THead, Tr } from "@/components/ui/Table";
import { plural } from "@/lib/format";
import type { RowProblem } from "../api/bulk";

function where(p: RowProblem): string {
  if (p.row !== null) return `Row ${p.row}`;
  if (p.item !== null) return p.item;
  return "Input";
}

/** Every problem with a bulk input, on the user's rows: row, zone, column, value, problem. */
export function BulkProblems({ title, problems }: { title: string; problems: RowProblem[] }) {
  const rows = new Set(problems.filter((p) => p.row !== null || p.item !== null).map((p) => p.row ?? p.item)).size;
  return (
    <Banner tone="error" title={title}>
      <p className="mb-2">
        {plural(problems.length, "problem")}
        {rows > 0 ? ` in ${plural(rows, "row")}` : ""}. Fix them and check again; nothing was sent for applying.
      </p>
      <Table caption="Problems by row" className="bg-white dark:bg-slate-950">
        <THead>
          <tr>
            <Th>Row</Th>
            <Th>Zone</Th>
            <Th>Column</Th>
            <Th>Value</Th>
            <Th>Problem</Th>
          </tr>
        </THead>
        <TBody>
          {problems.map((p, k) => (
            <Tr key={`${String(p.row)}:${String(p.item)}:${k}`}>
              <Td className="whitespace-nowrap font-medium">{where(p)}</Td>
              <Td className="break-all">{p.label ?? "—"}</Td>
              <Td className="break-all">{p.column ? <code className="text-xs">{p.column}</code> : "—"}</Td>
              <Td className="break-all">{p.value === null ? "—" : p.value === "" ? <span className="italic">(empty)</span> : <code className="text-xs">{p.value}</code>}</Td>
              <Td className="min-w-48 break-words">{p.problem}</Td>
            </Tr>
          ))}
        </TBody>
      </Table>
    </Banner>
  );
}
