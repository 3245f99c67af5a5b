package bundle

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cloudinit"
	"github.com/pgha-bundle/pgha-bundle/templates"
)

// TestSeedAndInstallWriteTheSameHosts: the seed script (before the bundle
// is unpacked) and install.sh both merge /etc/hosts from the one rendered
// block (templates.HostsBlock): from the same file they make the same
// bytes, that block once, a stale block of the cluster gone and every
// other line kept.
func TestSeedAndInstallWriteTheSameHosts(t *testing.T) {
	t.Parallel()
	const initial = "127.0.0.1 localhost\n# BEGIN pgha-bundle demo\n10.9.9.9 stale\n# END pgha-bundle demo\n::1 localhost6\n"
	spec := fixtureSpec(t, nil)
	want := "127.0.0.1 localhost\n::1 localhost6\n" + string(templates.HostsBlock(spec))

	h := newHost(t)
	writeFile(t, h.root+"/etc/hosts", initial)
	h.extract(testInput(t, h.dir))
	if out, code := h.run("install.sh"); code != 0 {
		t.Fatalf("install.sh: exit %d\n%s", code, out)
	}
	byInstall := readFile(t, h.root+"/etc/hosts")

	script, err := cloudinit.Script(cloudinit.Input{Spec: spec, Node: "pg2"})
	must(t, err)
	hosts := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, hosts, initial)
	// The seed script's own merge_hosts, on a copy of the same file.
	script = regexp.MustCompile(`(?m)^readonly HOSTS_FILE=.*$`).ReplaceAllString(script, "readonly HOSTS_FILE="+hosts)
	script = regexp.MustCompile(`(?m)^main "\$@"$`).ReplaceAllString(script, "merge_hosts")
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = os.Environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("seed merge_hosts: %v\n%s", err, out)
	}
	bySeed := readFile(t, hosts)

	if byInstall != want {
		t.Errorf("install.sh wrote /etc/hosts:\n%s\nwant:\n%s", byInstall, want)
	}
	if bySeed != byInstall {
		t.Errorf("the seed script wrote /etc/hosts:\n%s\ninstall.sh:\n%s", bySeed, byInstall)
	}
}
