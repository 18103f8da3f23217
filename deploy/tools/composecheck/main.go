// composecheck loads a Compose file the way `docker compose config` does (compose-go: schema
// validation, interpolation, normalisation and consistency checks such as depends_on naming an
// existing service) and reports the first problem. Variables come from the process
// environment only, never from a .env file, and the resolved model is not printed: it would
// carry the interpolated secrets.
//
//	composecheck docker-compose.yml
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck COMPOSE_FILE")
		os.Exit(2)
	}
	path, err := filepath.Abs(os.Args[1])
	if err != nil {
		fail(err)
	}
	options, err := cli.NewProjectOptions([]string{path},
		cli.WithWorkingDirectory(filepath.Dir(path)),
		cli.WithOsEnv,
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	names := project.ServiceNames()
	sort.Strings(names)
	fmt.Printf("%s: valid, services: %s\n", filepath.Base(path), strings.Join(names, " "))
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "composecheck: %v\n", err)
	os.Exit(1)
}
