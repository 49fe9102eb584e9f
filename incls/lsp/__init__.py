"""The language server, and only what speaks the protocol: the pygls server (`server`), its
handlers (`handlers`), the frames on the wire (`wire`), the model thread (`worker`), what a
document shows (`state`, `present`) and the client's side of the settings (`settings`).
The reading itself is `incls.reading`."""
