import { connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import type { Check } from '../core/result.js';

/** TLS settings of a probe. */
export interface TlsOptions {
  /** SNI and the name the certificate must carry. */
  servername?: string;
  /** PEM of the CA to verify against; without it the chain is reported, not judged. */
  ca?: string;
  /** OpenSSL cipher list, e.g. one that also allows anonymous DH (NRPE); Node's default without it. */
  ciphers?: string;
}

/** The certificate and session a TLS handshake showed. */
export interface TlsEvidence {
  protocol: string | null;
  cipher: string;
  subject: string;
  issuer: string;
  sans: string[];
  not_after: string;
  days_left: number;
  fingerprint256: string;
  verified?: boolean;
  verify_error?: string;
}

/** A handshake without a certificate (anonymous DH): the session, and no server authentication. */
export interface AnonymousTlsEvidence {
  protocol: string | null;
  cipher: string;
  anonymous: true;
}

/** How a handshake ended: a TLS socket with evidence and a check, or a failure check. */
export type HandshakeOutcome =
  | { ok: true; socket: TLSSocket; evidence: TlsEvidence | AnonymousTlsEvidence; check: Check }
  | { ok: false; check: Check };

const DAY_MS = 86_400_000;

/** Run a TLS handshake over a connected socket; a failure is a failed check, never a throw. */
export function handshakeTls(socket: Socket, options: TlsOptions, signal: AbortSignal): Promise<HandshakeOutcome> {
  return new Promise((resolve) => {
    const servername = options.servername ?? (isIP(socket.remoteAddress ?? '') ? undefined : socket.remoteAddress);
    const tls = tlsConnect({
      socket,
      // Without a name, check the certificate against the address connected to (its IP SANs), not Node's default 'localhost'.
      ...(servername ? { servername } : { host: socket.remoteAddress }),
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.ciphers ? { ciphers: options.ciphers } : {}),
      rejectUnauthorized: false,
    });
    let settled = false;
    const settle = (outcome: HandshakeOutcome): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (!outcome.ok) tls.destroy();
      resolve(outcome);
    };
    const onAbort = (): void =>
      settle({ ok: false, check: { ok: false, detail: 'TLS handshake did not finish before the deadline' } });
    signal.addEventListener('abort', onAbort, { once: true });
    // A deadline that passed already fires no event: settle now rather than run unbounded.
    if (signal.aborted) onAbort();
    tls.once('error', (error: NodeJS.ErrnoException) =>
      settle({
        ok: false,
        check: {
          ok: false,
          detail: `TLS handshake failed: ${error.code ?? ''} ${error.message}`.replace(/\s+/g, ' ').trim(),
        },
      }),
    );
    tls.once('secureConnect', () => {
      tls.on('error', () => {});
      if (!tls.getPeerCertificate().raw) return settle({ ok: true, socket: tls, ...anonymous(tls, options) });
      const evidence = evidenceOf(tls, options);
      settle({ ok: true, socket: tls, evidence, check: checkOf(evidence, options) });
    });
  });
}

/** An anonymous cipher suite (only possible when `ciphers` allows one) shows no certificate to report or verify. */
function anonymous(tls: TLSSocket, options: TlsOptions): { evidence: AnonymousTlsEvidence; check: Check } {
  const evidence: AnonymousTlsEvidence = { protocol: tls.getProtocol(), cipher: tls.getCipher().name, anonymous: true };
  const summary = `${evidence.protocol} anonymous ${evidence.cipher}, no certificate`;
  if (options.ca)
    return { evidence, check: { ok: false, detail: `no certificate to verify against --ca (${summary})` } };
  return { evidence, check: { ok: true, detail: `TLS ${summary}: the server is not authenticated` } };
}

function evidenceOf(tls: TLSSocket, options: TlsOptions): TlsEvidence {
  const cert = tls.getPeerCertificate();
  const notAfter = new Date(cert.valid_to);
  const evidence: TlsEvidence = {
    protocol: tls.getProtocol(),
    cipher: tls.getCipher().name,
    subject: distinguishedName(cert.subject),
    issuer: distinguishedName(cert.issuer),
    sans: (cert.subjectaltname ?? '').split(', ').filter(Boolean),
    not_after: Number.isNaN(notAfter.getTime()) ? String(cert.valid_to) : notAfter.toISOString(),
    days_left: Math.floor((notAfter.getTime() - Date.now()) / DAY_MS),
    fingerprint256: cert.fingerprint256,
  };
  if (options.ca) {
    evidence.verified = tls.authorized;
    if (!tls.authorized) evidence.verify_error = String(tls.authorizationError);
  }
  return evidence;
}

function checkOf(evidence: TlsEvidence, options: TlsOptions): Check {
  const summary = `${evidence.protocol} ${evidence.subject}, not after ${evidence.not_after.slice(0, 10)}`;
  if (evidence.days_left < 0)
    return { ok: false, detail: `certificate expired ${-evidence.days_left} days ago (${summary})` };
  if (options.ca && !evidence.verified)
    return { ok: false, detail: `certificate not trusted by --ca: ${evidence.verify_error} (${summary})` };
  return { ok: true, detail: `TLS ${summary}, ${evidence.days_left} days left${options.ca ? ', verified' : ''}` };
}

function distinguishedName(name: PeerCertificate['subject'] | undefined): string {
  if (!name) return '';
  return Object.entries(name)
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('+') : value}`)
    .join(', ');
}
