import { useState, type SubmitEvent } from "react";
import { Button } from "@/components/ui/Button";
import { Banner } from "@/components/ui/Banner";
import { Dialog } from "@/components/ui/Dialog";
import { Field } from "@/components/ui/Field";
import { FormProblems } from "@/components/FormProblems";
import { WritesBlocked } from "@/components/WritesBlocked";
import { ApiError, errorMessage } from "@/lib/api/errors";
import { fieldErrors, NO_FIELD_ERRORS, type FieldErrors } from "@/lib/fieldErrors";
import { useRecheckHealth, useWritesAllowed } from "@/lib/health";
import { readPemFile, useCheckUpload, useReplaceUpload, useUpload, type UploadView } from "../api/uploads";

const FIELDS = ["hostname", "chain_pem", "key_pem"] as const;

/** A PEM textarea with a file picker that fills it. */
function PemField({ label, hint, value, onChange, errors, rows, name }: { label: string; hint: string; value: string; onChange: (v: string) => void; errors: string[] | undefined; rows: number; name: string }) {
  const [fileProblem, setFileProblem] = useState<string | null>(null);
  return (
    <div className="space-y-1">
      <Field label={label} hint={hint} errors={fileProblem ? [fileProblem, ...(errors ?? [])] : errors}>
        {(p) => <textarea {...p} name={name} rows={rows} spellCheck={false} autoComplete="off" className={`${p.className} font-mono text-xs`} value={value} onChange={(e) => { onChange(e.target.value); }} />}
      </Field>
      <label className="inline-flex items-center gap-2 text-xs text-slate-600 dark:text-slate-400">
        <span>Or read it from a file:</span>
        <input
          type="file"
          accept=".pem,.crt,.cer,.key,text/plain,application/x-pem-file"
          aria-label={`Load ${label} from a file`}
          className="text-xs"
          onChange={(e) => {
            const file = e.target.files?.[0];
            setFileProblem(null);
            if (!file) return;
            readPemFile(file).then(onChange, (err: unknown) => { setFileProblem(errorMessage(err)); });
          }}
        />
      </label>
    </div>
  );
}

/**
 * Uploads a chain and key for the domain (its wildcard and apex) or one hostname in it,
 * or replaces those of `replacing` (same names). "Check" asks the API without storing.
 */
export function UploadCertificateDialog({ domainId, domainName, replacing, onClose, onSaved }: { domainId: string; domainName: string; replacing: UploadView | null; onClose: () => void; onSaved: (u: UploadView) => void }) {
  const upload = useUpload(domainId);
  const replace = useReplaceUpload(domainId);
  const check = useCheckUpload(domainId);
  const { allowed } = useWritesAllowed();
  const recheckHealth = useRecheckHealth();
  const [hostname, setHostname] = useState("");
  const [chain, setChain] = useState("");
  const [key, setKey] = useState("");
  const [errors, setErrors] = useState<FieldErrors>(NO_FIELD_ERRORS);
  const [problem, setProblem] = useState<string | null>(null);
  const [checked, setChecked] = useState(false);
  const busy = upload.isPending || replace.isPending || check.isPending;

  const failed = (err: Error) => {
    setChecked(false);
    if (err instanceof ApiError && err.details.length > 0) {
      setErrors(fieldErrors(err.details, FIELDS));
      if (err.status !== 422) setProblem(err.message);
    } else setProblem(errorMessage(err));
    if (err instanceof ApiError && err.status === 503) recheckHealth();
  };
  const body = () => ({ hostname: hostname.trim() === "" ? null : hostname.trim(), chain_pem: chain, key_pem: key });
  const reset = () => {
    setErrors(NO_FIELD_ERRORS);
    setProblem(null);
    setChecked(false);
  };

  const submit = (e: SubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    reset();
    const done = { onSuccess: (u: UploadView) => { onSaved(u); onClose(); }, onError: failed };
    if (replacing) replace.mutate({ id: replacing.id, chain_pem: chain, key_pem: key }, done);
    else upload.mutate(body(), done);
  };

  const title = replacing ? `Replace the certificate for ${replacing.hostname ?? replacing.name}` : `Upload a certificate for ${domainName}`;
  return (
    <Dialog open wide title={title} onClose={() => { if (!busy) onClose(); }}>
      <form id="upload-certificate" onSubmit={submit} noValidate className="space-y-4">
        <p className="text-sm text-slate-700 dark:text-slate-300">
          The panel checks that the key matches the first certificate, that each certificate is signed by the next, that the names cover what it is for, and that it has not expired. The key is stored sealed and never shown again. Uploaded certificates beat issued ones for the same name and are never renewed automatically.
        </p>
        <FormProblems title={replacing ? "The certificate was not replaced" : "The certificate was not uploaded"} message={problem} other={errors.other} />
        {checked && <Banner tone="success">Chain and key are valid for these names. Nothing is stored until you upload.</Banner>}
        <fieldset disabled={!allowed || busy} className="space-y-4">
          {!replacing && (
            <Field
              label="Hostname (optional)"
              errors={errors.fields.hostname}
              hint={`Empty: the whole domain (*.${domainName} and ${domainName}). Or one exact hostname under ${domainName}.`}
            >
              {(p) => <input {...p} name="hostname" value={hostname} placeholder={`shop.${domainName}`} autoComplete="off" onChange={(e) => { setHostname(e.target.value); setChecked(false); }} />}
            </Field>
          )}
          <PemField
            label="Certificate chain (PEM)"
            name="chain_pem"
            hint="The server's certificate first, then each intermediate in turn; the root may be left out."
            value={chain}
            onChange={(v) => { setChain(v); setChecked(false); }}
            errors={errors.fields.chain_pem}
            rows={8}
          />
          <PemField
            label="Private key (PEM)"
            name="key_pem"
            hint="Unencrypted PKCS#8, PKCS#1 (RSA) or SEC1 (EC) key of the first certificate."
            value={key}
            onChange={(v) => { setKey(v); setChecked(false); }}
            errors={errors.fields.key_pem}
            rows={5}
          />
        </fieldset>
      </form>
      <div className="mt-4 flex flex-wrap items-center justify-end gap-2">
        <WritesBlocked />
        <Button onClick={onClose} disabled={busy}>
          Cancel
        </Button>
        {!replacing && (
          <Button
            disabled={!allowed || chain.trim() === "" || key.trim() === ""}
            busy={check.isPending}
            onClick={() => {
              reset();
              check.mutate(body(), { onSuccess: () => { setChecked(true); }, onError: failed });
            }}
          >
            Check
          </Button>
        )}
        <Button type="submit" form="upload-certificate" variant="primary" disabled={!allowed || chain.trim() === "" || key.trim() === ""} busy={upload.isPending || replace.isPending}>
          {replacing ? "Replace" : "Upload"}
        </Button>
      </div>
    </Dialog>
  );
}
