type TlsModule = typeof import('./tls-handshake.js');

let loading: Promise<TlsModule> | undefined;

/**
 * Load the TLS handshake module (and node:tls) once, ahead of the probes that need it: an import
 * inside a probe's deadline can take longer than the deadline on a busy host. Kinds call it when
 * their options ask for TLS, and await it in the probe.
 */
export function loadTls(): Promise<TlsModule> {
  loading ??= import('./tls-handshake.js');
  return loading;
}
