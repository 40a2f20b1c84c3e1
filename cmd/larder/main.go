// Command larder is a protocol-aware mirror for package registries.
//
//	larder serve [--config larder.toml] [--listen ADDR] [--data DIR] [--offline]
package main

import (
	"fmt"
	"os"
)

const usage = `larder: a protocol-aware mirror for package registries

usage:
  larder serve [--config FILE] [--listen ADDR] [--data DIR] [--offline]

  serve    run the mirror (default: 127.0.0.1:7070, data in ./larder-data, npm at /npm/)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "larder: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "larder:", err)
		os.Exit(1)
	}
}
