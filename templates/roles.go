package templates

import (
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// dbRole is a database role whose password Patroni uses, with the hash
// PostgreSQL stores for it: upgrade.sh gives it to the leader (ALTER ROLE …
// PASSWORD '<hash>') before Patroni anywhere loads a rotated password, so
// the password itself never reaches the server or its log.
type dbRole struct {
	// Kind is the role's key under postgresql.authentication.
	Kind, User, Verifier string
}

// dbRoles lists the roles of patroni.yml whose password is set, with the
// hash the cluster's password_encryption stores: SCRAM-SHA-256, or md5 on
// servers before 10 (and where the spec asks for md5).
func dbRoles(v *view) ([]dbRole, error) {
	roles := []dbRole{
		{Kind: "superuser", User: v.Users.Superuser, Verifier: v.Secrets.SuperuserPassword},
		{Kind: "replication", User: v.Users.Replication, Verifier: v.Secrets.ReplicationPassword},
	}
	if v.Postgres.Rewind {
		roles = append(roles, dbRole{Kind: "rewind", User: v.Users.Rewind, Verifier: v.Secrets.RewindPassword})
	}
	out := roles[:0]
	for _, r := range roles {
		if r.Verifier == "" {
			continue
		}
		pw := r.Verifier
		if v.Postgres.AuthMethod == "scram-sha-256" {
			h, err := secrets.SCRAMVerifier(r.User, pw)
			if err != nil {
				return nil, err
			}
			r.Verifier = h
		} else {
			r.Verifier = secrets.MD5Verifier(r.User, pw)
		}
		out = append(out, r)
	}
	return out, nil
}

// secretValues are the values the payload hides (markSecrets): the secrets
// file's, and the password hashes derived from them (a hash stands for its
// password to md5 authentication and to offline guessing).
func secretValues(v *view) ([]string, error) {
	values := v.Secrets.Values()
	roles, err := dbRoles(v)
	if err != nil {
		return nil, err
	}
	for _, r := range roles {
		values = append(values, r.Verifier)
	}
	return values, nil
}
