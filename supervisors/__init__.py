"""OTP supervisor behaviour on top of `neural_actors.runtime`."""
