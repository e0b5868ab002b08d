// Regenerate Tests/KairosEngineTests/Fixtures/ecmascript-numbers.tsv: node scripts/dev/gen-ecmascript-numbers.js (run from that folder).
// Generates a table of IEEE-754 bit patterns and ECMAScript Number.prototype.toString output.
let s = 0x2545F4914F6CDD1Dn;
function next() { s ^= s << 13n; s &= (1n<<64n)-1n; s ^= s >> 7n; s ^= s << 17n; s &= (1n<<64n)-1n; return s; }
const buf = new DataView(new ArrayBuffer(8));
const out = [];
function add(x) {
  buf.setFloat64(0, x);
  if (!isFinite(x)) return;
  out.push(buf.getBigUint64(0).toString(16).padStart(16,'0') + '\t' + String(x));
}
const fixed = [0, -0, 1, -1, 1e-7, 1e-6, 1.5e-7, 1e21, 1e20, 1e+21*1.5, 5e-324, -5e-324, 2.2250738585072014e-308,
  1.7976931348623157e308, 9007199254740991, 9007199254740992, 9007199254740993, 123456789012345680, 0.1, 0.2, 0.30000000000000004,
  1/3, 2/3, 100, 1e15, 1e16, 1e17, 123e-20, 0.000001, 0.0000001, 4.35, 0.7910692011571756, 0.6601247400000002,
  1e300, 1e-300, 2**53, 2**64, 2**-1074, 2**-1022, 295147905179352830000, 1.2345678901234567e-7, 999999999999999900000,
  1e22, 1e23, 5e-7, 12345.6789, -12345.6789, 0.5, 0.25, 1e-5, 3.14159, 2.718281828459045, 1.7320508075688772];
for (const x of fixed) add(x);
for (let e = -330; e <= 310; e++) { add(Number('1e' + e)); add(Number('1.5e' + e)); add(Number('7.123456789012345e' + e)); }
for (let i = 0; i < 10000; i++) { // random bit patterns
  let b = next(); buf.setBigUint64(0, b); add(buf.getFloat64(0));
}
for (let i = 0; i < 5000; i++) { // random values of typical magnitudes
  const m = Number(next() >> 11n) / 2**53; const e = Number(next() % 50n) - 25;
  add(m * 10**e); add(Math.round(m * 1e6) / 1e6); add(-m * 10**e);
}
for (let i = 0; i < 1000; i++) add(Number(next() % 10000000000000000000n)); // large integers
require('fs').writeFileSync('ecmascript-numbers.tsv', out.join('\n') + '\n');
console.log(out.length);
