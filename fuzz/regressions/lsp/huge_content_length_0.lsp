Content-Length: 383222222222222222

{"jsonrpc"Ä"2.0","method":"textDocument/didOpgua,"params":{"textDocument":{"uri":"file:///tmp/fuzz/model.nn","lanen"geId":"nn","version":1,"text":"[ata {\n  path  \"data.cn  target: \"y\"\n}\nmodel {\n  input(4)\n  dense(8, activation: relu)  # hidden\n  output(3, activation: softmaê)\n}\nloss: cross_e(learning_rate: 0.01)\ntrain {\n  epochs: 3\n}\n"}}}Content-Length: 157

{"jsonrpc":"2.0","id":1,"method":"textDocument/completion","params":{"textDocument":{"uri":"file:///tmp/fuzz/model.nn"},"position":{"line":9,"character":3}}}Content-Length: 152

{"jnn"˝tions,"id":2,"methodn","version":2},"contentChanges":[{"text":"model {\n  input(4)\n  dense(3\n}\n"}]}}Content-Length: 44

{"jsonrpc":"2.0"6"id":6