import { useState } from "react";
import { Button } from "@/components/ui/Button";
import { cn } from "@/components/ui/cn";
import { Dialog } from "@/components/ui/Dialog";
import { errorMessage } from "@/lib/api/errors";
import { useCan } from "@/lib/can";
import { describeUpload, useDeleteUpload, useUploads, type UploadView } from "../api/uploads";
import { UploadCertificateDialog } from "./UploadCertificateDialog";

const TONES = {
  ok: "text-slate-700 dark:text-slate-300",
  warn: "text-amber-800 dark:text-amber-300",
  bad: "text-red-700 dark:text-red-400",
} as const;

function DeleteUploadDialog({ upload, domainId, onClose, onDeleted }: { upload: UploadView; domainId: string; onClose: () => void; onDeleted: (what: string) => void }) {
  const remove = useDeleteUpload(domainId);
  const what = upload.hostname ?? upload.name;
  return (
    <Dialog open title={`Delete the uploaded certificate for ${what}?`} onClose={() => { if (!remove.isPending) onClose(); }}>
      <p className="text-sm">Its names are served by the issued certificate again, if there is one; otherwise HTTPS handshakes for them fail.</p>
      {remove.isError && <p role="alert" className="mt-2 text-sm text-red-700 dark:text-red-400">Not deleted: {errorMessage(remove.error)}</p>}
      <div className="mt-4 flex justify-end gap-2">
        <Button onClick={onClose} disabled={remove.isPending}>
          Cancel
        </Button>
        <Button variant="danger" busy={remove.isPending} onClick={() => { remove.mutate(upload.id, { onSuccess: () => { onDeleted(what); onClose(); } }); }}>
          Delete
        </Button>
      </div>
    </Dialog>
  );
}

/** A domain's uploaded certificates: names, expiry, issuer; upload, replace, delete. */
export function UploadedCertificates({ domainId, domainName }: { domainId: string; domainName: string }) {
  const uploads = useUploads(domainId);
  const can = useCan({ kind: "domain", domainId });
  const [dialog, setDialog] = useState<{ replacing: UploadView | null } | null>(null);
  const [deleting, setDeleting] = useState<UploadView | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const items = uploads.data?.items ?? [];
  const now = uploads.dataUpdatedAt;
  return (
    <div className="space-y-1 text-sm md:col-start-2">
      <h3 className="text-xs font-semibold uppercase text-slate-500 dark:text-slate-400">Uploaded certificates</h3>
      {uploads.isPending ? (
        <p className="text-slate-500 dark:text-slate-400">Reading uploaded certificates…</p>
      ) : uploads.isError ? (
        <p className="text-red-700 dark:text-red-400">Uploaded certificates: {errorMessage(uploads.error)}</p>
      ) : items.length === 0 ? (
        <p className="text-slate-600 dark:text-slate-400">None: the issued certificate serves {domainName}.</p>
      ) : (
        <ul aria-label={`Uploaded certificates of ${domainName}`} className="space-y-2">
          {items.map((u) => {
            const s = describeUpload(u, now);
            return (
              <li key={u.id} className="rounded border border-slate-200 p-2 dark:border-slate-700">
                <p className="font-medium break-all">{s.covers}</p>
                <p className={cn("text-xs", TONES[s.tone])}>{s.validity}</p>
                <p className="text-xs break-all text-slate-500 dark:text-slate-400">
                  {u.key_type} · issued by {u.issuer} · SHA-256 {u.fingerprint_sha256.slice(0, 16)}…
                </p>
                <div className="mt-1 flex flex-wrap gap-2">
                  <Button disabled={!can.allowed} aria-label={`Replace the uploaded certificate for ${s.covers}`} onClick={() => { setDone(null); setDialog({ replacing: u }); }}>
                    Replace…
                  </Button>
                  <Button variant="danger" disabled={!can.allowed} aria-label={`Delete the uploaded certificate for ${s.covers}`} onClick={() => { setDone(null); setDeleting(u); }}>
                    Delete…
                  </Button>
                </div>
              </li>
            );
          })}
        </ul>
      )}
      <div className="flex flex-wrap items-center gap-2 pt-1">
        <Button disabled={!can.allowed} aria-label={`Upload certificate for ${domainName}`} onClick={() => { setDone(null); setDialog({ replacing: null }); }}>
          Upload certificate…
        </Button>
        {can.because === "rights" && <span className="text-xs text-slate-700 dark:text-slate-300">{can.reason}</span>}
        {done && <span role="status" className="text-xs text-emerald-800 dark:text-emerald-300">{done}</span>}
      </div>
      {dialog && (
        <UploadCertificateDialog
          domainId={domainId}
          domainName={domainName}
          replacing={dialog.replacing}
          onClose={() => { setDialog(null); }}
          onSaved={(u) => { setDone(`${dialog.replacing ? "Replaced" : "Uploaded"} the certificate for ${u.hostname ?? u.names.join(" and ")}; the proxies serve it within seconds.`); }}
        />
      )}
      {deleting && <DeleteUploadDialog upload={deleting} domainId={domainId} onClose={() => { setDeleting(null); }} onDeleted={(what) => { setDone(`Deleted the uploaded certificate for ${what}.`); }} />}
    </div>
  );
}
