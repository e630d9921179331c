/**
 * The DNS wire format at the server's edge (RFC 1035 §4, EDNS0 RFC 6891), through `dns-packet`:
 * a query is checked before it is decoded (size, the QR bit, the opcode, the section counts), so
 * a hostile packet costs a header read and a short error answer; a reply larger than the client
 * can take over UDP is cut to its header and question with the TC bit, and the client asks again
 * over TCP (RFC 1035 §4.2.1, what glibc does). Names in replies are compressed (compress.ts).
 */
import { type Answer, type DecodedPacket, decode, encode, type Question, TRUNCATED_RESPONSE } from 'dns-packet';
import { compressNames } from './compress';

/** Queries are small (a name and an OPT record); anything longer is not a query we answer. */
export const MAX_QUERY_BYTES = 1232;
/** The UDP payload we offer and accept at most (the DNS flag day 2020 size: no fragmentation). */
export const MAX_UDP_PAYLOAD = 1232;
const CLASSIC_UDP_PAYLOAD = 512;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type Rcode = keyof typeof RCODE;

export interface Query {
  id: number;
  /** The raw bytes, forwarded as they came. */
  raw: Buffer;
  question: Question;
  recursionDesired: boolean;
  /** The client sent an OPT record: the reply carries one too. */
  edns: boolean;
  /** The largest UDP reply the client accepts. */
  udpLimit: number;
}

export type Parsed =
  | { kind: 'query'; query: Query }
  /** Answer at once with this (an error reply carrying the query's id). */
  | { kind: 'error'; reply: Buffer }
  /** Not worth an answer: too short to carry an id, or itself a response (never answer those: loops). */
  | { kind: 'drop' };

/** A label we can echo back byte for byte (dns-packet re-encodes names as UTF-8). */
const SAFE_LABEL = /^[\x21-\x2d\x2f-\x7e]{1,63}$/;

export function parseQuery(raw: Buffer): Parsed {
  if (raw.length < 12) return { kind: 'drop' };
  const id = raw.readUInt16BE(0);
  const flags = raw.readUInt16BE(2);
  if (flags & 0x8000) return { kind: 'drop' };
  const opcode = (flags >> 11) & 0xf;
  const rd = (flags & 0x0100) !== 0;
  const fail = (rcode: Rcode): Parsed => ({ kind: 'error', reply: errorReply(id, opcode, rd, rcode) });
  if (opcode !== 0) return fail('NOTIMP');
  if (raw.length > MAX_QUERY_BYTES) return fail('FORMERR');
  const [qd, an, ns, ar] = [4, 6, 8, 10].map((at) => raw.readUInt16BE(at));
  // One question (what every resolver sends); answers and authorities have no place in a query.
  if (qd !== 1 || an !== 0 || ns !== 0 || (ar as number) > 1) return fail('FORMERR');
  let packet: DecodedPacket;
  try {
    packet = decode(raw);
  } catch {
    return fail('FORMERR');
  }
  const question = packet.questions?.[0];
  if (!question || !validName(question.name)) return fail('FORMERR');
  const opt = packet.additionals?.find((a) => a.type === 'OPT');
  if (packet.additionals?.length && !opt) return fail('FORMERR');
  const offered = opt && 'udpPayloadSize' in opt ? opt.udpPayloadSize : 0;
  return {
    kind: 'query',
    query: {
      id,
      raw,
      question,
      recursionDesired: rd,
      edns: opt !== undefined,
      udpLimit: Math.min(MAX_UDP_PAYLOAD, Math.max(CLASSIC_UDP_PAYLOAD, offered)),
    },
  };
}

function validName(name: string): boolean {
  if (name === '.') return true;
  const labels = name.split('.');
  return name.length <= 253 && labels.every((l) => SAFE_LABEL.test(l));
}

/** A header-only reply: the query's id, opcode and RD bit, QR set, this rcode. */
export function errorReply(id: number, opcode: number, rd: boolean, rcode: Rcode): Buffer {
  const buf = Buffer.alloc(12);
  buf.writeUInt16BE(id, 0);
  buf.writeUInt16BE(0x8000 | (opcode << 11) | (rd ? 0x0100 : 0) | 0x0080 | RCODE[rcode], 2);
  return buf;
}

export interface Reply {
  rcode: Rcode;
  /** Answers from the cluster zone are authoritative; forwarded ones never pass through here. */
  authoritative: boolean;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
}

/** Encodes `reply` to `query`; over UDP, one that exceeds the client's limit goes out truncated. */
export function encodeReply(query: Query, reply: Reply, transport: 'udp' | 'tcp'): Buffer {
  const opt: Answer[] = query.edns
    ? [
        {
          type: 'OPT',
          name: '.',
          udpPayloadSize: MAX_UDP_PAYLOAD,
          extendedRcode: 0,
          ednsVersion: 0,
          flags: 0,
          flag_do: false,
          options: [],
        },
      ]
    : [];
  const flags =
    (reply.authoritative ? 0x0400 : 0) | (query.recursionDesired ? 0x0100 : 0) | 0x0080 | RCODE[reply.rcode];
  const packet = {
    type: 'response' as const,
    id: query.id,
    flags,
    questions: [query.question],
    answers: reply.answers,
    authorities: reply.authorities,
    additionals: [...reply.additionals, ...opt],
  };
  const limit = transport === 'udp' ? query.udpLimit : 65_535;
  const full = compressNames(encode(packet));
  if (full.length <= limit) return full;
  return compressNames(
    encode({ ...packet, flags: flags | TRUNCATED_RESPONSE, answers: [], authorities: [], additionals: opt }),
  );
}
