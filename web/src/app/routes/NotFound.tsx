import { Link } from "react-router";

export function NotFound() {
  return (
    <section>
      <h1 className="text-2xl font-semibold">No such page</h1>
      <p className="mt-2">
        <Link className="text-teal-700 underline dark:text-teal-400" to="/">
          Back to the overview
        </Link>
      </p>
    </section>
  );
}
