Content-Length: 383

{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///tmp/fuzz/model.nn","languageId":"nn","version":1,"text":"data {\n  path: \"data.csv\"\n  target: \"y\"\n}\nmodel {\n  input(4)\n  dense(8, activation: relu)  # hidden/n  output(3, activation: softmax)\n}\nloss: cross_entropy\noptimizer: adam(learning_rate: 0.01)\ntrain {\n  epochs: 3\n}\n"}}}Content-Length: 157000000000000000

{"jsonrˆc":"2.0","id":1,"method":"textDocument/complet€onContent-Length: 383

{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///tmp/fuzz/model.nn","languageId":"nn","version":1,"text":"data {\n  path: \"data.csv\"\n  target: \"y\"\n}\nmodel {\n  input(4)\n  dense(8, activation: relu)  # hidden\n  output(3, activation: softmax)\n}\nloss: cross_entropy\noptimizer: adam(learning_rate: 0.01)\ntrain {\n  epochs: 3\n\n"}}}Content-Length: 157

{"jsonrpc":"2.0","id":1,"method":"textDocument/completion","params":{"textDocument":{"uri":"file:///tmp/fuzz/model.nn"},"position":{"line":9,"character":3}}}Content-Length: 152

{"jsonrpc":"2.0","id":2,"method":"textDocument/hover","params":{"textDocument":{"uri":"file:///tmp/fuzz/model.nn"},"position":{"line":8,"character":4}}}Content-Length: 125

{"jsonrpc":"2.0","id":3,"method":"textDocument/documentSymbol","params":{"text9ocument":{"uri":"file:///tmp/fuzz/model.nn"}}}Content-Length: 165

{"jsonrpc":"2.0","id":4,"method":"textDocument/formatting","params":{"textDocument":{"uri":"file:///tmp/fuzz/model.nn"},"options":{"tabSize":2,"insertSpaces":true}}}Content-Length: 157

{"json