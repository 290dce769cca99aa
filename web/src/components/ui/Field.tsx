import { useId, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from "react";
import { cn } from "./cn";

const control =
  "block w-full rounded-md border bg-white px-3 py-1.5 text-sm text-slate-900 placeholder:text-slate-400 disabled:cursor-not-allowed disabled:bg-slate-100 dark:bg-slate-900 dark:text-slate-100 dark:placeholder:text-slate-400 dark:disabled:bg-slate-800";
const normal = "border-slate-300 dark:border-slate-600";
const invalid = "border-red-600 dark:border-red-400";

interface FieldProps {
  label: ReactNode;
  /** The API's problems with this field, shown under it. */
  errors?: string[] | undefined;
  hint?: ReactNode;
  className?: string;
  children: (props: { id: string; "aria-invalid": boolean; "aria-describedby": string | undefined; className: string }) => ReactNode;
}

/** A labelled control with its hint and its errors, wired for screen readers. */
export function Field({ label, errors, hint, className, children }: FieldProps) {
  const id = useId();
  const hasErrors = errors !== undefined && errors.length > 0;
  const described = [hint ? `${id}-hint` : null, hasErrors ? `${id}-errors` : null].filter(Boolean).join(" ");
  return (
    <div className={cn("space-y-1", className)}>
      <label htmlFor={id} className="block text-sm font-medium text-slate-700 dark:text-slate-200">
        {label}
      </label>
      {children({ id, "aria-invalid": hasErrors, "aria-describedby": described || undefined, className: cn(control, hasErrors ? invalid : normal) })}
      {hint && (
        <p id={`${id}-hint`} className="text-xs text-slate-500 dark:text-slate-400">
          {hint}
        </p>
      )}
      {hasErrors && (
        <ul id={`${id}-errors`} className="space-y-0.5 text-sm text-red-700 dark:text-red-400">
          {errors.map((e) => (
            <li key={e}>{e}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function Input(props: InputHTMLAttributes<HTMLInputElement>) {
  return <input {...props} className={cn(control, normal, props.className)} />;
}
export function TextArea(props: TextareaHTMLAttributes<HTMLTextAreaElement>) {
  return <textarea {...props} className={cn(control, normal, props.className)} />;
}
export function Select(props: SelectHTMLAttributes<HTMLSelectElement>) {
  return <select {...props} className={cn(control, normal, props.className)} />;
}

/** A labelled checkbox; with `hint` or `errors` (the API's problems), those under it. */
export function Checkbox({ label, hint, errors, ...props }: InputHTMLAttributes<HTMLInputElement> & { label: ReactNode; hint?: ReactNode; errors?: string[] | undefined }) {
  const id = useId();
  const hasErrors = errors !== undefined && errors.length > 0;
  const described = [hint ? `${id}-hint` : null, hasErrors ? `${id}-errors` : null].filter(Boolean).join(" ");
  const box = (
    <div className="flex items-center gap-2">
      <input
        id={id}
        type="checkbox"
        className="size-4 rounded border-slate-300 accent-teal-700 dark:border-slate-600"
        aria-invalid={hasErrors || undefined}
        aria-describedby={described || undefined}
        {...props}
      />
      <label htmlFor={id} className="text-sm text-slate-700 dark:text-slate-200">
        {label}
      </label>
    </div>
  );
  if (!hint && !hasErrors) return box;
  return (
    <div className="space-y-1">
      {box}
      {hint && (
        <p id={`${id}-hint`} className="pl-6 text-xs text-slate-500 dark:text-slate-400">
          {hint}
        </p>
      )}
      {hasErrors && (
        <ul id={`${id}-errors`} className="space-y-0.5 pl-6 text-sm text-red-700 dark:text-red-400">
          {errors.map((e) => (
            <li key={e}>{e}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
