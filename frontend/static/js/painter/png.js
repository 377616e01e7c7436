// Exact 8-bit greyscale PNG (colour type 0) encode/decode for label maps.
// No canvas is involved: what is encoded is byte-for-byte the Uint8Array.

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309) of bytes, as PNG chunks need it. */
export function crc32(bytes, start = 0, end = bytes.length) {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Runs bytes through a (De)CompressionStream("deflate") — zlib format, as PNG's IDAT is. */
async function pipe(bytes, transform) {
  const stream = new Blob([bytes]).stream().pipeThrough(transform);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

/**
 * Encodes a width×height Uint8Array (one byte per pixel) as a greyscale PNG Blob.
 * Rows use filter type 0 (None): label maps are long runs that deflate well as they are, and
 * building the rows is a plain copy (an Up filter compressed ~15% better but cost ~40 ms of
 * main-thread work at 3840×2160).
 */
export async function encodeGrayPNG(data, width, height) {
  if (data.length !== width * height) throw new Error("label map size does not match");
  const stride = width + 1;
  const raw = new Uint8Array(stride * height); // filter bytes stay 0
  for (let y = 0; y < height; y++) raw.set(data.subarray(y * width, (y + 1) * width), y * stride + 1);
  const idat = await pipe(raw, new CompressionStream("deflate"));
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([8, 0, 0, 0, 0], 8); // bit depth 8, colour type 0, deflate, adaptive filters, no interlace
  const parts = [new Uint8Array(SIGNATURE), chunk("IHDR", ihdr), chunk("IDAT", idat), chunk("IEND", new Uint8Array(0))];
  return new Blob(parts, { type: "image/png" });
}

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** Undoes PNG filters in place for 1 byte per pixel; returns the pixel array (width×height). */
function unfilter(raw, width, height) {
  const out = new Uint8Array(width * height);
  const stride = width + 1;
  if (raw.length < stride * height) throw new Error("PNG image data is truncated");
  for (let y = 0; y < height; y++) {
    const type = raw[y * stride];
    const src = y * stride + 1;
    const cur = y * width;
    const prev = cur - width;
    switch (type) {
      case 0:
        out.set(raw.subarray(src, src + width), cur);
        break;
      case 1:
        out[cur] = raw[src];
        for (let x = 1; x < width; x++) out[cur + x] = raw[src + x] + out[cur + x - 1];
        break;
      case 2:
        if (y === 0) out.set(raw.subarray(src, src + width), cur);
        else for (let x = 0; x < width; x++) out[cur + x] = raw[src + x] + out[prev + x];
        break;
      case 3:
        for (let x = 0; x < width; x++) {
          const left = x > 0 ? out[cur + x - 1] : 0;
          const up = y > 0 ? out[prev + x] : 0;
          out[cur + x] = raw[src + x] + ((left + up) >> 1);
        }
        break;
      case 4:
        for (let x = 0; x < width; x++) {
          const left = x > 0 ? out[cur + x - 1] : 0;
          const up = y > 0 ? out[prev + x] : 0;
          const upLeft = x > 0 && y > 0 ? out[prev + x - 1] : 0;
          out[cur + x] = raw[src + x] + paeth(left, up, upLeft);
        }
        break;
      default:
        throw new Error(`unknown PNG filter type ${type} in row ${y}`);
    }
  }
  return out;
}

/** Decodes an 8-bit greyscale, non-interlaced PNG exactly: {width, height, data: Uint8Array}. */
export async function decodeGrayPNG(buffer) {
  const bytes = new Uint8Array(buffer);
  for (let i = 0; i < 8; i++) if (bytes[i] !== SIGNATURE[i]) throw new Error("not a PNG file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let header = null;
  const idat = [];
  while (pos + 12 <= bytes.length) {
    const length = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const data = bytes.subarray(pos + 8, pos + 8 + length);
    if (type === "IHDR") {
      header = {
        width: view.getUint32(pos + 8),
        height: view.getUint32(pos + 12),
        depth: data[8],
        colourType: data[9],
        interlace: data[12],
      };
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    pos += 12 + length;
  }
  if (!header) throw new Error("PNG has no IHDR chunk");
  const { width, height, depth, colourType, interlace } = header;
  if (depth !== 8 || colourType !== 0) {
    throw new Error(`mask PNG must be 8-bit greyscale (got depth ${depth}, colour type ${colourType})`);
  }
  if (interlace !== 0) throw new Error("interlaced mask PNGs are not supported");
  const raw = await pipe(new Blob(idat), new DecompressionStream("deflate"));
  return { width, height, data: unfilter(raw, width, height) };
}
