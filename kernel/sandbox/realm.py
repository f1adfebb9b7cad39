"""The app realm without string-to-code: eval, Function and its async/generator siblings are neutered.

Why in the sandbox and not only in the static gate: the gate sees source text, and a key can be built at
run time (split/reverse/join, String.raw, Symbol.toPrimitive, a JSON.parse reviver, a Proxy trap) in more
ways than any rule can list. Every such route ends at one of a handful of realm objects: globalThis.eval,
globalThis.Function, and the `constructor` property of Function.prototype and of the AsyncFunction,
GeneratorFunction and AsyncGeneratorFunction prototypes. REALM_LOCKDOWN replaces each with a stub that
throws, and makes the replacement non-writable and non-configurable, so the app can neither restore nor
reach the originals (nothing else in the realm refers to them).

The stubs keep the ordinary shape: `Function.prototype.constructor === Function`, `f instanceof Function`
and `Function.prototype.call` still work, so honest code sees no difference. The SDK runtime
(sdk/js/runtime.js) needs none of the neutered functions, and the host loads the app with QuickJS's own
eval entry (`Context.eval_handle`), which does not go through globalThis.eval.
"""

from __future__ import annotations

import json

REASON = "code built from strings is not allowed in an app (eval and the Function constructors are disabled)"

# A script: evaluated once per realm by the guest before the SDK runtime and before any app code.
REALM_LOCKDOWN = """(function () {
  "use strict";
  const reason = """ + json.dumps(REASON) + """;
  const lock = (object, key, value) => Object.defineProperty(object, key,
    { value, writable: false, enumerable: false, configurable: false });
  const stub = (name, prototype) => {
    const fn = function () { throw new TypeError(name + ": " + reason); };
    Object.defineProperty(fn, "name", { value: name });
    if (prototype !== undefined) {
      lock(fn, "prototype", prototype);
      lock(prototype, "constructor", fn);
    }
    return fn;
  };
  const protos = {
    Function: Function.prototype,
    AsyncFunction: Object.getPrototypeOf(async function () {}),
    GeneratorFunction: Object.getPrototypeOf(function* () {}),
    AsyncGeneratorFunction: Object.getPrototypeOf(async function* () {}),
  };
  const FunctionStub = stub("Function", protos.Function);
  stub("AsyncFunction", protos.AsyncFunction);
  stub("GeneratorFunction", protos.GeneratorFunction);
  stub("AsyncGeneratorFunction", protos.AsyncGeneratorFunction);
  lock(globalThis, "Function", FunctionStub);
  lock(globalThis, "eval", stub("eval", undefined));
})();
"""
