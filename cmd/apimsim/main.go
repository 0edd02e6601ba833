// Command apimsim is the simulated WSO2 API Manager used by drover's tests and lab; the
// product's bin/ scripts exec it. All logic lives in tasks/apim/apimsim.
package main

import (
	"os"

	"github.com/drover-sh/drover/tasks/apim/apimsim"
)

func main() {
	os.Exit(apimsim.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
