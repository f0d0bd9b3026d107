/** A known TCP service: the request it needs, and the reply that proves the port runs it. */
export interface ServicePreset {
  /** Bytes written once connected (and TLS is up); none for services that greet first. */
  send?: Buffer;
  /** The reply (or greeting) must match; bytes are matched as latin1, one character per byte. */
  expect: RegExp;
  /** The service's standard port, used when the target names none. */
  port: number;
  /** The service speaks TLS from the first byte (LDAPS, IMAPS, POP3S). */
  tls?: boolean;
  /** What the expected reply is, in words, for checks and `--help`. */
  describe: string;
}

// An anonymous search of the root DSE (RFC 4511 4.5.1, RFC 4512 5.1), BER-encoded:
// LDAPMessage { messageID 1, SearchRequest { baseObject "", scope baseObject, derefAliases never,
// sizeLimit 0, timeLimit 0, typesOnly FALSE, filter (objectClass=*), attributes [supportedLDAPVersion] } }
const LDAP_ROOT_DSE_SEARCH = Buffer.from([
  0x30,
  0x3b, // LDAPMessage SEQUENCE, 59 bytes
  0x02,
  0x01,
  0x01, // messageID 1
  0x63,
  0x36, // [APPLICATION 3] SearchRequest, 54 bytes
  0x04,
  0x00, // baseObject ""
  0x0a,
  0x01,
  0x00, // scope baseObject
  0x0a,
  0x01,
  0x00, // derefAliases neverDerefAliases
  0x02,
  0x01,
  0x00, // sizeLimit 0
  0x02,
  0x01,
  0x00, // timeLimit 0
  0x01,
  0x01,
  0x00, // typesOnly FALSE
  0x87,
  0x0b,
  ...Buffer.from('objectClass'), // filter: present [7] objectClass
  0x30,
  0x16,
  0x04,
  0x14,
  ...Buffer.from('supportedLDAPVersion'), // attributes
]);

// The answer to message 1: a SearchResultEntry [APPLICATION 4] or SearchResultDone [APPLICATION 5]
// (a server that refuses anonymous searches still answers Done with an error code). Active Directory
// writes lengths in the long form, hence the alternatives after 0x30.
const LDAP_ANSWER = /^\x30(?:[\x00-\x7f]|\x81[\s\S]|\x82[\s\S]{2}|\x83[\s\S]{3}|\x84[\s\S]{4})\x02\x01\x01[\x64\x65]/;

// TPKT (RFC 1006) + X.224 Connection Request (class 0) + RDP Negotiation Request asking for TLS or
// CredSSP (MS-RDPBCGR 2.2.1.1): any RDP server answers with an X.224 Connection Confirm (0xd0), even
// when it then refuses the protocols asked for.
const RDP_CONNECTION_REQUEST = Buffer.from([
  0x03,
  0x00,
  0x00,
  0x13, // TPKT version 3, length 19
  0x0e,
  0xe0,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00, // X.224 length 14, CR, dst-ref, src-ref, class 0
  0x01,
  0x00,
  0x08,
  0x00,
  0x03,
  0x00,
  0x00,
  0x00, // RDP_NEG_REQ, length 8, PROTOCOL_SSL | PROTOCOL_HYBRID
]);

// RTMP handshake: C0 (version 3) and C1 (time 0, zero 0, 1528 bytes); a zero C1 selects the plain
// handshake. The server answers S0 (version 3) and a full 1536-byte S1.
const RTMP_C0_C1 = Buffer.concat([Buffer.from([0x03]), Buffer.alloc(1536)]);

/** The TCP service presets of `probe tcp --service NAME`: data, not code paths. */
export const SERVICE_PRESETS: Readonly<Record<string, ServicePreset>> = {
  // RFC 4253 4.2: SSH-1.99 is a server that speaks 2.0 too.
  ssh: { expect: /^SSH-(?:2\.0|1\.99)-/, port: 22, describe: 'an SSH-2.0 banner' },
  ftp: { expect: /^220[ -]/, port: 21, describe: 'an FTP 220 greeting' },
  smtp: { expect: /^220[ -]/, port: 25, describe: 'an SMTP 220 greeting' },
  pop3: { expect: /^\+OK/, port: 110, describe: 'a POP3 +OK greeting' },
  pop3s: { expect: /^\+OK/, port: 995, tls: true, describe: 'a POP3 +OK greeting inside TLS' },
  imap: { expect: /^\* (?:OK|PREAUTH)/, port: 143, describe: 'an IMAP * OK greeting' },
  imaps: { expect: /^\* (?:OK|PREAUTH)/, port: 993, tls: true, describe: 'an IMAP * OK greeting inside TLS' },
  ldap: {
    send: LDAP_ROOT_DSE_SEARCH,
    expect: LDAP_ANSWER,
    port: 389,
    describe: 'an LDAP answer to an anonymous rootDSE search',
  },
  ldaps: {
    send: LDAP_ROOT_DSE_SEARCH,
    expect: LDAP_ANSWER,
    port: 636,
    tls: true,
    describe: 'an LDAP answer to an anonymous rootDSE search inside TLS',
  },
  rdp: {
    send: RDP_CONNECTION_REQUEST,
    expect: /^\x03\x00[\s\S]{2}[\s\S]\xd0/,
    port: 3389,
    describe: 'an X.224 Connection Confirm (RDP)',
  },
  ica: { expect: /^\x7f\x7fICA\x00/, port: 1494, describe: 'the Citrix ICA banner' },
  rtmp: {
    send: RTMP_C0_C1,
    expect: /^\x03[\s\S]{1536}/,
    port: 1935,
    describe: 'an RTMP handshake answer (S0 version 3 and S1)',
  },
  vnc: { expect: /^RFB \d{3}\.\d{3}\n/, port: 5900, describe: 'an RFB (VNC) banner' },
};

/** The names of every preset, for messages and `--help`. */
export const SERVICE_NAMES = Object.keys(SERVICE_PRESETS);
