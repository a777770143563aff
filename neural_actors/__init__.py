"""neural-actors: an Erlang/OTP-style supervision runtime on asyncio for neural actors."""
