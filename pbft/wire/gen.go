// Package wire holds Bulwark's protobuf wire types. The generated code is
// committed; regenerate it after editing wire.proto with `go generate ./pbft/wire`
// (needs protoc: apt-get install protobuf-compiler, and
// go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12).
package wire

//go:generate protoc --go_out=. --go_opt=paths=source_relative wire.proto
