// Command seedwrite writes a seed ISO from files on disk with
// cloudinit.WriteISO; bench/seed.sh times it against cloud-localds.
//
//	seedwrite OUT.iso USER-DATA META-DATA NETWORK-CONFIG [BUNDLE]
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/pgha-bundle/pgha-bundle/cloudinit"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "seedwrite: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 4 && len(args) != 5 {
		return fmt.Errorf("usage: seedwrite OUT.iso USER-DATA META-DATA NETWORK-CONFIG [BUNDLE]")
	}
	var seed cloudinit.Seed
	for i, dst := range []*[]byte{&seed.UserData, &seed.MetaData, &seed.NetworkConfig} {
		b, err := os.ReadFile(args[i+1])
		if err != nil {
			return err
		}
		*dst = b
	}
	bundle := ""
	if len(args) == 5 {
		bundle = args[4]
		sum, err := cloudinit.FileSHA256(bundle)
		if err != nil {
			return err
		}
		seed.BundleSHA256 = sum
	}
	_, err := cloudinit.WriteISO(args[0], seed, bundle, time.Unix(1767225600, 0))
	return err
}
