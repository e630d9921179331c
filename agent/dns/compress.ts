/**
 * Name compression for the replies we build (RFC 1035 §4.1.4): `dns-packet` writes every name in
 * full, so each A record of a headless Service repeats the ~35-byte question name and only ~10 fit
 * in a 512-byte UDP answer. This pass rewrites a record's owner name as a pointer to the same name
 * written earlier (the question's, another owner's, an SRV, CNAME or PTR target's), which brings an A
 * record down to 16 bytes. Whole names only, no suffix sharing: that is where nearly all of the
 * saving is. It reads only packets `dns-packet` just encoded (uncompressed, well formed), never
 * input from the network.
 */

const SRV = 33;
const CNAME = 5;
const PTR = 12;
/** A pointer holds a 14-bit offset. */
const MAX_POINTER = 0x3fff;

export function compressNames(packet: Buffer): Buffer {
  const out: Buffer[] = [packet.subarray(0, 12)];
  let written = 12;
  const seen = new Map<string, number>();
  const nameEnd = (at: number): number => {
    let i = at;
    while (packet[i] !== 0) i += (packet[i] as number) + 1;
    return i + 1;
  };
  const remember = (name: Buffer, offset: number) => {
    const key = name.toString('latin1');
    if (name.length > 2 && offset <= MAX_POINTER && !seen.has(key)) seen.set(key, offset);
  };
  const push = (bytes: Buffer) => {
    out.push(bytes);
    written += bytes.length;
  };
  let at = 12;
  const questions = packet.readUInt16BE(4);
  for (let q = 0; q < questions; q++) {
    const end = nameEnd(at);
    remember(packet.subarray(at, end), written);
    push(packet.subarray(at, end + 4));
    at = end + 4;
  }
  const records = packet.readUInt16BE(6) + packet.readUInt16BE(8) + packet.readUInt16BE(10);
  for (let r = 0; r < records; r++) {
    const end = nameEnd(at);
    const owner = packet.subarray(at, end);
    const pointer = seen.get(owner.toString('latin1'));
    if (pointer !== undefined) {
      const p = Buffer.alloc(2);
      p.writeUInt16BE(0xc000 | pointer);
      push(p);
    } else {
      remember(owner, written);
      push(owner);
    }
    const type = packet.readUInt16BE(end);
    const rdlength = packet.readUInt16BE(end + 8);
    const rdataAt = written + 10;
    push(packet.subarray(end, end + 10 + rdlength));
    // Targets inside rdata stay in full (their length is in rdlength) but can be pointed at.
    if (type === SRV) remember(packet.subarray(end + 16, nameEnd(end + 16)), rdataAt + 6);
    if (type === CNAME || type === PTR) remember(packet.subarray(end + 10, nameEnd(end + 10)), rdataAt);
    at = end + 10 + rdlength;
  }
  return Buffer.concat(out);
}
