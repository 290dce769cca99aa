import { useState, type SubmitEvent } from "react";
import { Button } from "@/components/ui/Button";
import { Dialog } from "@/components/ui/Dialog";
import { Field } from "@/components/ui/Field";
import { FormProblems } from "@/components/FormProblems";
import { WritesBlocked } from "@/components/WritesBlocked";
import { ApiError, errorMessage } from "@/lib/api/errors";
import { fieldErrors, NO_FIELD_ERRORS, type FieldErrors } from "@/lib/fieldErrors";
import { useRecheckHealth, useWritesAllowed } from "@/lib/health";
import { useCredentialOptions, useUpdateDomain } from "../api/domains";
import { choiceHint, switchEffect, type CertificateChoice } from "../api/certificateChoice";
import { CertificateChoiceField } from "./CertificateChoiceField";
import type { DomainView } from "../api/types";

const NONE = "";

/** Changes how a domain gets certificates and its DNS credential (admins). */
export function EditDomainDialog({ domain, onClose, onSaved }: { domain: DomainView; onClose: () => void; onSaved: (d: DomainView) => void }) {
  const credentials = useCredentialOptions(true);
  const update = useUpdateDomain();
  const { allowed } = useWritesAllowed();
  const recheckHealth = useRecheckHealth();
  const [chosen, setChosen] = useState(domain.dns_credential_id ?? NONE);
  const [choice, setChoice] = useState<CertificateChoice>(domain.certificates);
  const effect = switchEffect(domain.certificates, choice);
  const unchanged = chosen === (domain.dns_credential_id ?? NONE) && choice === domain.certificates;
  const [errors, setErrors] = useState<FieldErrors>(NO_FIELD_ERRORS);
  const [problem, setProblem] = useState<string | null>(null);
  const items = credentials.data?.items ?? [];

  const submit = (e: SubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    setErrors(NO_FIELD_ERRORS);
    setProblem(null);
    update.mutate(
      { id: domain.id, patch: { dns_credential_id: chosen === NONE ? null : chosen, certificates: choice } },
      {
        onSuccess: (saved) => {
          onSaved(saved);
          onClose();
        },
        onError: (err) => {
          if (err instanceof ApiError && err.details.length > 0) {
            setErrors(fieldErrors(err.details, ["dns_credential_id", "certificates"]));
            if (err.status !== 422) setProblem(err.message);
          } else setProblem(errorMessage(err));
          if (err instanceof ApiError && err.status === 503) recheckHealth();
        },
      },
    );
  };

  return (
    <Dialog open title={`Certificates of ${domain.name}`} onClose={() => { if (!update.isPending) onClose(); }}>
      <form id="edit-domain" onSubmit={submit} noValidate className="space-y-4">
        <FormProblems title="The domain was not changed" message={problem} other={errors.other} />
        <fieldset disabled={!allowed} className="space-y-4">
          <CertificateChoiceField value={choice} onChange={setChoice} errors={errors.fields.certificates} hint={effect ? `${choiceHint(choice, domain.name)} ${effect}` : choiceHint(choice, domain.name)} />
          <Field
            label="DNS credential"
            errors={errors.fields.dns_credential_id ?? (credentials.isError ? [`Credentials could not be listed: ${errorMessage(credentials.error)}`] : undefined)}
            hint="The certificate's next attempt uses it; re-issue the certificate to try now."
          >
            {(p) => (
              <select {...p} value={chosen} onChange={(e) => { setChosen(e.target.value); }}>
                {credentials.isPending && <option value={chosen}>Loading credentials…</option>}
                {items.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name} ({c.provider === "manual" ? "manual DNS" : c.provider})
                  </option>
                ))}
                <option value={NONE}>None (no certificate can be ordered)</option>
              </select>
            )}
          </Field>
        </fieldset>
      </form>
      <div className="mt-4 flex flex-wrap items-center justify-end gap-2">
        <WritesBlocked />
        <Button onClick={onClose} disabled={update.isPending}>
          Cancel
        </Button>
        <Button type="submit" form="edit-domain" variant="primary" disabled={!allowed || credentials.isPending || unchanged} busy={update.isPending}>
          Save
        </Button>
      </div>
    </Dialog>
  );
}
