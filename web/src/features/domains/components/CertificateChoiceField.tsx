import { Field } from "@/components/ui/Field";
import { CERTIFICATE_CHOICES, choiceLabel, type CertificateChoice } from "../api/certificateChoice";

/** The domain dialogs' "Certificates" choice: wildcard by DNS-01, or one per hostname. */
export function CertificateChoiceField({ value, onChange, hint, errors }: { value: CertificateChoice; onChange: (c: CertificateChoice) => void; hint: string; errors?: string[] }) {
  return (
    <Field label="Certificates" errors={errors} hint={hint}>
      {(p) => (
        <select {...p} value={value} onChange={(e) => { onChange(e.target.value as CertificateChoice); }}>
          {CERTIFICATE_CHOICES.map((c) => (
            <option key={c} value={c}>
              {choiceLabel(c)}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}
