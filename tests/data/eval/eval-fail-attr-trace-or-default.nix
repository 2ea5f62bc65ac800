# An error in the default of a select is noted at the last attribute found.
{ a = { }; }.a.b or (throw "no default")
