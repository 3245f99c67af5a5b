package rpm

import "fmt"

// KeepalivedComponent is keepalived, which holds a cluster's virtual IP. It
// is optional: only clusters with a vip section need it, and the renderer
// says so when it is missing.
type KeepalivedComponent struct {
	Package string `json:"package,omitempty"`
	Version string `json:"version,omitempty"`
	Bin     string `json:"bin"`
}

// ConfigTest reports whether this keepalived checks a configuration with
// `keepalived --config-test` (2.0 and later; EL7's 1.3 has no such option).
// An unknown version says no.
func (k KeepalivedComponent) ConfigTest() bool {
	return k.Version != "" && !VersionBefore(k.Version, "2.0")
}

// findKeepalived finds the package installing keepalived in a bin or sbin
// directory: nil when no package does, an error when several do.
func findKeepalived(owner map[string][]*Package) (*KeepalivedComponent, error) {
	cands := binDirsOnly(dirsWith(owner, "keepalived"))
	if len(cands) == 0 {
		return nil, nil
	}
	cand, _, err := pick("keepalived (keepalived)", cands, "")
	if err != nil {
		return nil, err
	}
	return &KeepalivedComponent{Package: cand.pkg.NEVRA, Version: cand.pkg.Version, Bin: cand.dir + "/keepalived"}, nil
}

// NeedKeepalived is the error of a cluster with a virtual IP whose packages
// hold no keepalived.
func NeedKeepalived(os string) error {
	name := "keepalived"
	if os == "el7" {
		name = "keepalived (1.3 from the base repository, or later)"
	}
	return fmt.Errorf("vip: no package installs keepalived, which holds the virtual IP: add the %s RPM of the target's repositories to the packages directory, or remove the vip section", name)
}
