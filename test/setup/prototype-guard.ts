/**
 * After every test file: nothing was added to the built-in prototypes or to Object. A key from
 * data that indexed a plain object (`map["__proto__"][id] = …` writes onto Object.prototype,
 * `map["constructor"][id] = …` onto Object) shows up here in whichever test first feeds it, also
 * in code written after the adversarial corpus (test/adversarial/data-channels.test.ts).
 */
const GUARDED: readonly [string, object][] = [
  ['Object.prototype', Object.prototype],
  ['Object', Object],
  ['Array.prototype', Array.prototype],
  ['Function.prototype', Function.prototype],
  ['String.prototype', String.prototype],
];

const names = (o: object): string[] => Object.getOwnPropertyNames(o).sort();
const before = new Map(GUARDED.map(([name, o]) => [name, names(o)]));

afterAll(() => {
  for (const [name, o] of GUARDED) {
    const added = names(o).filter((n) => !(before.get(name) ?? []).includes(n));
    if (added.length > 0) throw new Error(`${name} was polluted during this test file: ${added.join(', ')}`);
  }
  const inherited: string[] = [];
  for (const key in {}) inherited.push(key);
  if (inherited.length > 0)
    throw new Error(`a plain object inherits enumerable keys: ${inherited.join(', ')}`);
});
