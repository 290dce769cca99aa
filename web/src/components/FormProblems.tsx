import { Banner } from "./ui/Banner";

/** Above a form: why it was refused (a message in words, and problems naming no shown field). */
export function FormProblems({ title, message, other }: { title: string; message?: string | null; other?: string[] }) {
  const list = other ?? [];
  if (!message && list.length === 0) return null;
  return (
    <Banner tone="error" title={title}>
      {message && <p>{message}</p>}
      {list.length > 0 && (
        <ul className="list-disc pl-5">
          {list.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      )}
    </Banner>
  );
}
