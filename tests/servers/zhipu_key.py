V3_KEY = "0123456789abcdef0123456789abcdef.v3secretvalue123"
