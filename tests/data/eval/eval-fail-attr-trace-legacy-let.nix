# let { body = ...; } is rec { ... }.body.
let {
  x = throw "legacy";
  body = x;
}
