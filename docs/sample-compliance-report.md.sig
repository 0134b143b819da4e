{
  "keyid": "9862fe54c7afc0aa654ee1f3cadb495b32a2ccebd1e8e677b765f29a9f91febe",
  "scheme": "ed25519",
  "sig": "7b7d2b923e588e56f641d8effafec55d657777fa165a8e7afabb920ae603e4b6b7e6adee6decd019a6510982f91fb300c8abb4a1c6519486143bab9f88946f0a"
}
