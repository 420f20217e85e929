#!/usr/bin/env node
// Draws the app icon and the tray icons as PNGs with nothing but node:zlib: shapes are distance functions in a unit
// square, anti-aliased by 4x4 supersampling, written as RGBA PNGs. Run `node build/make-icons.mjs` after changing a
// shape or colour; the PNGs are committed so packaging needs no drawing step.
//   build/icon.png, build/icons/{512x512,256x256}.png   app icon (electron-builder's buildResources)
//   build/tray/tray-<state>-<theme>.png (+ @2x)          tray: idle | running | paused | disconnected, for light | dark menu bars
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));

// ---- PNG ----

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}
function encodePng(size, rgba) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bits per channel
  header[9] = 6; // RGBA
  const rows = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    rows[y * (size * 4 + 1)] = 0; // filter: none
    rgba.copy(rows, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---- shapes: signed distance (negative inside), in units of the icon's width ----

const roundedBox = (cx, cy, hw, hh, r) => (x, y) => {
  const qx = Math.abs(x - cx) - hw + r;
  const qy = Math.abs(y - cy) - hh + r;
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - r;
};
const circle = (cx, cy, r) => (x, y) => Math.hypot(x - cx, y - cy) - r;
const ring = (shape, width) => (x, y) => Math.abs(shape(x, y)) - width / 2;
/** A stroke from (ax, ay) to (bx, by) with round ends. */
const segment = (ax, ay, bx, by, width) => (x, y) => {
  const px = x - ax;
  const py = y - ay;
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, (px * dx + py * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - dx * t, py - dy * t) - width / 2;
};
const union = (...shapes) => (x, y) => Math.min(...shapes.map((s) => s(x, y)));
const minus = (a, b) => (x, y) => Math.max(a(x, y), -b(x, y));

/** Layers are [shape, [r, g, b, a]] painted in order. */
function render(size, layers) {
  const rgba = Buffer.alloc(size * size * 4);
  const samples = 4;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const x = (px + (sx + 0.5) / samples) / size;
          const y = (py + (sy + 0.5) / samples) / size;
          let cr = 0;
          let cg = 0;
          let cb = 0;
          let ca = 0;
          for (const [shape, [lr, lg, lb, la]] of layers) {
            if (shape(x, y) > 0) continue;
            // "over" compositing of an opaque-or-translucent layer
            const alpha = la / 255;
            cr = lr * alpha + cr * (1 - alpha);
            cg = lg * alpha + cg * (1 - alpha);
            cb = lb * alpha + cb * (1 - alpha);
            ca = alpha + ca * (1 - alpha);
          }
          r += cr;
          g += cg;
          b += cb;
          a += ca;
        }
      }
      const n = samples * samples;
      const i = (py * size + px) * 4;
      const coverage = a / n;
      // store straight (not premultiplied) colour
      rgba[i] = coverage > 0 ? Math.round(r / n / coverage) : 0;
      rgba[i + 1] = coverage > 0 ? Math.round(g / n / coverage) : 0;
      rgba[i + 2] = coverage > 0 ? Math.round(b / n / coverage) : 0;
      rgba[i + 3] = Math.round(coverage * 255);
    }
  }
  return encodePng(size, rgba);
}

// ---- the drawings ----

const WHITE = [255, 255, 255, 255];
const BLUE = [30, 58, 138, 255];
const GREEN = [22, 163, 74, 255];
const AMBER = [217, 119, 6, 255];
const RED = [220, 38, 38, 255];

/** A terminal prompt ">_" on a deep blue rounded square. */
const appIcon = [
  [roundedBox(0.5, 0.5, 0.44, 0.44, 0.11), BLUE],
  [union(segment(0.27, 0.33, 0.45, 0.5, 0.075), segment(0.45, 0.5, 0.27, 0.67, 0.075)), WHITE],
  [segment(0.52, 0.68, 0.73, 0.68, 0.075), WHITE],
  [circle(0.78, 0.26, 0.065), GREEN],
];

const BADGE = circle(0.75, 0.75, 0.25);
const badges = {
  idle: [],
  running: [[BADGE, GREEN], [circle(0.75, 0.75, 0.09), WHITE]],
  paused: [[BADGE, AMBER], [union(segment(0.69, 0.65, 0.69, 0.85, 0.07), segment(0.81, 0.65, 0.81, 0.85, 0.07)), WHITE]],
  disconnected: [[BADGE, RED], [union(segment(0.67, 0.67, 0.83, 0.83, 0.07), segment(0.83, 0.67, 0.67, 0.83, 0.07)), WHITE]],
};

/** The tray glyph (a small terminal window with a prompt) in the theme's ink, with a state badge cut into it. */
function trayIcon(state, theme) {
  const ink = theme === 'dark' ? [243, 244, 246, 255] : [31, 41, 55, 255];
  const faded = state === 'disconnected' ? [ink[0], ink[1], ink[2], 140] : ink;
  const window = ring(roundedBox(0.42, 0.42, 0.36, 0.32, 0.08), 0.1);
  const prompt = union(segment(0.22, 0.32, 0.36, 0.44, 0.09), segment(0.36, 0.44, 0.22, 0.56, 0.09));
  const glyph = union(window, prompt);
  const gap = circle(0.75, 0.75, 0.32);
  return [[state === 'idle' ? glyph : minus(glyph, gap), faded], ...badges[state]];
}

function write(relative, png) {
  const file = path.join(here, relative);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, png);
  console.log(`${relative} (${png.length} bytes)`);
}

write('icon.png', render(512, appIcon));
for (const size of [512, 256]) write(`icons/${size}x${size}.png`, render(size, appIcon));
for (const state of Object.keys(badges)) {
  for (const theme of ['light', 'dark']) {
    write(`tray/tray-${state}-${theme}.png`, render(16, trayIcon(state, theme)));
    write(`tray/tray-${state}-${theme}@2x.png`, render(32, trayIcon(state, theme)));
  }
}
