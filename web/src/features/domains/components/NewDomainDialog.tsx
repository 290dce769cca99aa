import { useState, type SubmitEvent } from "react";
import { Button } from "@/components/ui/Button";
import { Dialog } from "@/components/ui/Dialog";
import { Field } from "@/components/ui/Field";
import { FormProblems } from "@/components/FormProblems";
import { WritesBlocked } from "@/components/WritesBlocked";
import { api, unwrap } from "@/lib/api/client";
import { ApiError, errorMessage } from "@/lib/api/errors";
import { fieldErrors, NO_FIELD_ERRORS, type FieldErrors } from "@/lib/fieldErrors";
import { useRecheckHealth, useWritesAllowed } from "@/lib/health";
import { useCreateDomain, useCredentialOptions } from "../api/domains";
import { choiceHint, type CertificateChoice } from "../api/certificateChoice";
import { CertificateChoiceField } from "./CertificateChoiceField";
import type { CredentialView, DomainView } from "../api/types";

/** Choice value: make a `manual` credential first (when none exists yet). */
const NEW_MANUAL = "new-manual";
const NONE = "none";

export function NewDomainDialog({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: (d: DomainView) => void }) {
  const credentials = useCredentialOptions(open);
  const create = useCreateDomain();
  const { allowed } = useWritesAllowed();
  const recheckHealth = useRecheckHealth();
  const [name, setName] = useState("");
  const [credential, setCredential] = useState("");
  const [choice, setChoice] = useState<CertificateChoice>("wildcard");
  const [errors, setErrors] = useState<FieldErrors>(NO_FIELD_ERRORS);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const items = credentials.data?.items ?? [];
  const hasManual = items.some((c) => c.provider === "manual");
  const chosen = credential || (items[0]?.id ?? (hasManual ? "" : NEW_MANUAL));

  const close = () => {
    setName("");
    setCredential("");
    setChoice("wildcard");
    setErrors(NO_FIELD_ERRORS);
    setProblem(null);
    onClose();
  };

  const submit = async (e: SubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    setErrors(NO_FIELD_ERRORS);
    setProblem(null);
    setBusy(true);
    try {
      let dnsCredentialId: string | null = chosen === NONE ? null : chosen;
      if (chosen === NEW_MANUAL) {
        const made = (await unwrap(api.POST("/api/v1/dns-credentials", { body: { name: "manual", provider: "manual" } }))) as CredentialView;
        dnsCredentialId = made.id;
        void credentials.refetch();
        setCredential(made.id);
      }
      const domain = await create.mutateAsync({ name: name.trim(), dns_credential_id: dnsCredentialId, certificates: choice });
      onCreated(domain);
      close();
    } catch (err) {
      if (err instanceof ApiError && (err.status === 422 || err.status === 409) && err.details.length > 0) {
        const fe = fieldErrors(err.details, ["name", "dns_credential_id", "certificates"]);
        setErrors(fe);
        if (err.status === 409) setProblem(err.message);
      } else setProblem(errorMessage(err));
      if (err instanceof ApiError && err.status === 503) recheckHealth();
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog open={open} title="New domain" onClose={close}>
      <form id="new-domain" onSubmit={(e) => void submit(e)} noValidate className="space-y-4">
        <FormProblems title="The domain was not created" message={problem} other={errors.other} />
        <fieldset disabled={!allowed} className="space-y-4">
          <Field label="Domain name" errors={errors.fields.name} hint="e.g. example.com">
            {(p) => <input {...p} required autoComplete="off" spellCheck={false} value={name} onChange={(e) => { setName(e.target.value); }} />}
          </Field>
          <CertificateChoiceField value={choice} onChange={setChoice} errors={errors.fields.certificates} hint={choiceHint(choice, name)} />
          <Field
            label="DNS credential"
            errors={errors.fields.dns_credential_id ?? (credentials.isError ? [`Credentials could not be listed: ${errorMessage(credentials.error)}`] : undefined)}
            hint="How the DNS-01 challenge is answered. A manual credential shows you the TXT records to publish yourself."
          >
            {(p) => (
              <select {...p} value={chosen} onChange={(e) => { setCredential(e.target.value); }}>
                {credentials.isPending && <option value="">Loading credentials…</option>}
                {items.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name} ({c.provider === "manual" ? "manual DNS" : c.provider})
                  </option>
                ))}
                {!hasManual && !credentials.isPending && <option value={NEW_MANUAL}>Manual DNS (creates a credential “manual”)</option>}
                <option value={NONE}>None (no certificate can be ordered)</option>
              </select>
            )}
          </Field>
        </fieldset>
      </form>
      <div className="mt-4 flex flex-wrap items-center justify-end gap-2">
        <WritesBlocked />
        <Button onClick={close}>Cancel</Button>
        <Button type="submit" form="new-domain" variant="primary" disabled={!allowed || credentials.isPending} busy={busy}>
          Create domain
        </Button>
      </div>
    </Dialog>
  );
}
