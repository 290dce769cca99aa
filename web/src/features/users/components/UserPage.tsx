import { useState, type SubmitEvent } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { Dialog } from "@/components/ui/Dialog";
import { Field } from "@/components/ui/Field";
import { ErrorState, Loading, PageHeader } from "@/components/ui/States";
import { FormProblems } from "@/components/FormProblems";
import { WritesBlocked } from "@/components/WritesBlocked";
import { ApiError, errorMessage } from "@/lib/api/errors";
import { useAuth } from "@/lib/auth";
import { fieldErrors, NO_FIELD_ERRORS, type FieldErrors } from "@/lib/fieldErrors";
import { formatDate } from "@/lib/format";
import { useRecheckHealth, useWritesAllowed } from "@/lib/health";
import { deletionLines, describeUserDeletion } from "../api/deletion";
import { useDeleteUser, useUpdateUser, useUser, useUserDeletionPreview } from "../api/users";
import type { UserPatch, UserView } from "../api/types";
import { Grants } from "./Grants";

export function UserPage() {
  const { id = "" } = useParams();
  const user = useUser(id);
  if (user.isPending) return <Loading what="Loading the user" />;
  if (user.isError) {
    return (
      <section>
        <PageHeader title="User" />
        <ErrorState error={user.error} retry={() => void user.refetch()} />
        <p className="mt-3">
          <Link to="/users" className="text-teal-700 underline dark:text-teal-400">
            Back to the users
          </Link>
        </p>
      </section>
    );
  }
  return <UserDetail key={user.data.id} user={user.data} />;
}

function UserDetail({ user }: { user: UserView }) {
  const me = useAuth().user;
  const created = ((useLocation().state ?? {}) as { created?: boolean }).created === true;
  const update = useUpdateUser(user.id);
  const { allowed } = useWritesAllowed();
  const recheckHealth = useRecheckHealth();
  const [role, setRole] = useState(user.role);
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<FieldErrors>(NO_FIELD_ERRORS);
  const [problem, setProblem] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [confirmDisable, setConfirmDisable] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const self = me?.user_id === user.id;

  const patch = (body: UserPatch, message: string) => {
    setErrors(NO_FIELD_ERRORS);
    setProblem(null);
    setDone(null);
    update.mutate(body, {
      onSuccess: () => {
        setDone(message);
        setConfirmDisable(false);
        setPassword("");
      },
      onError: (err) => {
        setConfirmDisable(false);
        if (err instanceof ApiError && err.details.length > 0) {
          setErrors(fieldErrors(err.details, ["role", "password", "disabled"]));
          if (err.status !== 422) setProblem(err.message);
        } else setProblem(errorMessage(err));
        if (err instanceof ApiError && err.status === 503) recheckHealth();
      },
    });
  };

  const saveRole = (e: SubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    patch({ role }, `Role set to ${role}.`);
  };
  const savePassword = (e: SubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    patch({ password }, "Password changed; their sessions have ended.");
  };

  return (
    <section aria-labelledby="user-title">
      <nav aria-label="Breadcrumb" className="mb-2 text-sm">
        <Link to="/users" className="text-teal-700 underline dark:text-teal-400">
          Users
        </Link>{" "}
        / <span className="break-all">{user.username}</span>
      </nav>
      <h1 id="user-title" className="mb-1 text-2xl font-semibold break-all">
        {user.username}
      </h1>
      <p className="mb-4 text-sm text-slate-600 dark:text-slate-400">
        {user.role} · {user.disabled ? "disabled" : "enabled"} · created {formatDate(user.created_at)}
        {self && " · this is you"}
      </p>
      <div className="space-y-6">
        {created && <Banner tone="success">Created {user.username}. Grant them domains or named backends below.</Banner>}
        {done && <Banner tone="success">{done}</Banner>}
        <FormProblems title="Not changed" message={problem} other={errors.other} />
        <WritesBlocked />
        <div className="grid gap-4 md:grid-cols-3">
          <form onSubmit={saveRole} noValidate aria-label="Change role" className="space-y-2 rounded-md border border-slate-200 p-4 dark:border-slate-700">
            <Field label="Role" errors={errors.fields.role}>
              {(p) => (
                <select {...p} disabled={!allowed} value={role} onChange={(e) => { setRole(e.target.value); }}>
                  <option value="user">user</option>
                  <option value="admin">admin</option>
                </select>
              )}
            </Field>
            <Button type="submit" disabled={!allowed || role === user.role} busy={update.isPending && update.variables.role !== undefined}>
              Set role
            </Button>
          </form>
          <div className="space-y-2 rounded-md border border-slate-200 p-4 dark:border-slate-700">
            <p className="text-sm font-medium">Sign-in</p>
            <p className="text-sm text-slate-600 dark:text-slate-400">{user.disabled ? "Disabled: cannot log in, keys refused." : "Enabled."}</p>
            {errors.fields.disabled && <p className="text-sm text-red-700 dark:text-red-400">{errors.fields.disabled.join(" ")}</p>}
            {user.disabled ? (
              <Button disabled={!allowed} busy={update.isPending && update.variables.disabled === false} onClick={() => { patch({ disabled: false }, `${user.username} is enabled again.`); }}>
                Enable user
              </Button>
            ) : (
              <Button variant="danger" disabled={!allowed} onClick={() => { setConfirmDisable(true); }}>
                Disable user
              </Button>
            )}
          </div>
          <form onSubmit={savePassword} noValidate aria-label="Change password" className="space-y-2 rounded-md border border-slate-200 p-4 dark:border-slate-700">
            <Field label="New password" errors={errors.fields.password} hint="Ends their sessions">
              {(p) => <input {...p} type="password" autoComplete="new-password" disabled={!allowed} value={password} onChange={(e) => { setPassword(e.target.value); }} />}
            </Field>
            <Button type="submit" disabled={!allowed || password === ""} busy={update.isPending && update.variables.password !== undefined}>
              Set password
            </Button>
          </form>
        </div>
        {user.role === "admin" ? <p className="text-sm text-slate-600 dark:text-slate-400">Admins see and change everything; grants apply to users.</p> : null}
        <Grants userId={user.id} username={user.username} />
        {!self && (
          <div className="rounded-md border border-red-200 p-4 dark:border-red-900">
            <p className="text-sm font-medium">Delete {user.username}</p>
            <p className="mb-2 text-sm text-slate-600 dark:text-slate-400">With their sessions, API keys, grants and own named backends. What they did stays in the audit log.</p>
            <Button variant="danger" disabled={!allowed} onClick={() => { setConfirmDelete(true); }}>
              Delete user…
            </Button>
          </div>
        )}
      </div>
      {confirmDelete && <DeleteUserDialog user={user} onClose={() => { setConfirmDelete(false); }} />}
      <Dialog
        open={confirmDisable}
        title={`Disable ${user.username}?`}
        onClose={() => { if (!update.isPending) setConfirmDisable(false); }}
        footer={
          <>
            <Button disabled={update.isPending} onClick={() => { setConfirmDisable(false); }}>
              Cancel
            </Button>
            <Button variant="danger" disabled={!allowed} busy={update.isPending} onClick={() => { patch({ disabled: true }, `${user.username} is disabled.`); }}>
              Disable
            </Button>
          </>
        }
      >
        <p className="text-sm">
          {self ? "This is your own account: you will be logged out. " : ""}Their sessions end at once and their API keys stop working until they are enabled again.
        </p>
      </Dialog>
    </section>
  );
}

/** Deleting a user: the API's dry run first says what goes, then the delete. */
function DeleteUserDialog({ user, onClose }: { user: UserView; onClose: () => void }) {
  const preview = useUserDeletionPreview(user.id, true);
  const remove = useDeleteUser();
  const navigate = useNavigate();
  const { allowed } = useWritesAllowed();
  const recheckHealth = useRecheckHealth();
  const lines = preview.data ? deletionLines(describeUserDeletion(preview.data)) : [];
  const confirm = () => {
    remove.mutate(user.id, {
      onSuccess: () => void navigate("/users", { state: { deleted: user.username } }),
      onError: (err) => {
        if (err instanceof ApiError && err.status === 503) recheckHealth();
      },
    });
  };
  return (
    <Dialog
      open
      title={`Delete ${user.username}?`}
      onClose={() => { if (!remove.isPending) onClose(); }}
      footer={
        <>
          <Button disabled={remove.isPending} onClick={onClose}>
            Cancel
          </Button>
          <Button variant="danger" disabled={!allowed || !preview.isSuccess} busy={remove.isPending} onClick={confirm}>
            Delete {user.username}
          </Button>
        </>
      }
    >
      {preview.isPending ? (
        <Loading what="Finding what the delete would take with it" />
      ) : preview.isError ? (
        // The API refuses it outright (the last admin, zones on their backends): say why.
        <ErrorState error={preview.error} retry={() => void preview.refetch()} title="This user cannot be deleted" />
      ) : (
        <div className="space-y-3 text-sm">
          {remove.isError && (
            <Banner tone="error" title="Not deleted">
              {errorMessage(remove.error)}
            </Banner>
          )}
          {lines.length === 0 ? (
            <p>They have no sessions, API keys, grants or named backends.</p>
          ) : (
            <ul aria-label="What goes with the user" className="list-disc pl-5">
              {lines.map((l) => (
                <li key={l}>{l}</li>
              ))}
            </ul>
          )}
          <p className="text-slate-600 dark:text-slate-400">Nothing has been deleted yet; this cannot be undone once confirmed.</p>
        </div>
      )}
    </Dialog>
  );
}
