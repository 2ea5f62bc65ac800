# The ? operator forces without a note.
{ a = throw "tested"; } ? a.b
