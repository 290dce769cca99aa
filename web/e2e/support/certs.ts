// Certificates a story uploads, made by Debian's `openssl` in a temporary directory: a
// self-signed leaf for the names asked (EC P-256 by default, or RSA 2048) with its key, and
// the SHA-256 fingerprint a TLS client sees of it.
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCertificate {
  chainPem: string;
  keyPem: string;
  /** As Node's TLS socket reports the peer's: upper-case hex pairs joined by colons. */
  fingerprint256: string;
}

export function selfSigned(names: string[], { rsa = false, days = 90 } = {}): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), "sy-e2e-cert-"));
  try {
    const [keyFile, certFile] = [join(dir, "key.pem"), join(dir, "cert.pem")];
    const first = names[0] ?? "example.test";
    execFileSync("openssl", [
      "req", "-x509", "-nodes",
      ...(rsa ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]),
      "-keyout", keyFile, "-out", certFile,
      "-days", String(days),
      "-subj", `/CN=${first}`,
      "-addext", `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}`,
    ], { stdio: "pipe" });
    const chainPem = readFileSync(certFile, "utf8");
    return { chainPem, keyPem: readFileSync(keyFile, "utf8"), fingerprint256: new X509Certificate(chainPem).fingerprint256 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
