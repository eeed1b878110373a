"""Identity: tokens (the only module importing jose), client secrets, PINs, the Principal."""
