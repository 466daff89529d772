#!/usr/bin/env bash
# Installs Postfix and Dovecot (for SMTP AUTH) from Debian's packages and starts them on
# 127.0.0.1 only, without systemd, for the integration tests:
#
#   127.0.0.1:10025  plaintext (STARTTLS offered), no AUTH, relays for 127.0.0.0/8
#   127.0.0.1:10026  plaintext without STARTTLS, no AUTH
#   127.0.0.1:10587  STARTTLS required, AUTH PLAIN/LOGIN after TLS
#   127.0.0.1:10465  implicit TLS, AUTH PLAIN/LOGIN
#
# Every message for any address at example.net lands in one Maildir. Recipients whose local part
# starts with "reject" get 550, with "tempfail" 450. Credentials: testuser / testpass.
# The certificate is for localhost and 127.0.0.1, signed by a CA whose PEM is $DIR/ca.pem.
#
# Usage: scripts/postfix.sh [start|stop]. Prints `export SMTP_POSTFIX_DIR=...` on success.
set -euo pipefail

DIR=${SMTP_POSTFIX_DIR:-/var/tmp/smtp-postfix}
ACTION=${1:-start}
log() { echo "postfix.sh: $*" >&2; }

# Stops a Dovecot started by an earlier run and waits until it is gone: a new one cannot start
# while the old one still holds its sockets.
stop_dovecot() {
    local pattern="dovecot -c $DIR/dovecot.conf"
    pkill -f "$pattern" >/dev/null 2>&1 || return 0
    for _ in $(seq 50); do
        pgrep -f "$pattern" >/dev/null || return 0
        sleep 0.1
    done
    pkill -9 -f "$pattern" >/dev/null 2>&1 || true
}

if [ "$ACTION" = stop ]; then
    postfix stop >/dev/null 2>&1 || true
    stop_dovecot
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    log "must run as root (it installs packages and starts Postfix)"
    exit 1
fi

if ! command -v postfix >/dev/null || ! command -v dovecot >/dev/null || ! command -v openssl >/dev/null; then
    log "installing postfix, dovecot-core and openssl"
    echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
    echo "postfix postfix/mailname string localhost" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix dovecot-core openssl >/dev/null
fi

postfix stop >/dev/null 2>&1 || true
stop_dovecot
rm -rf "$DIR"
mkdir -p "$DIR/mail" "$DIR/dovecot-run"

id smtptest >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin smtptest
chown smtptest:smtptest "$DIR/mail"
uid=$(id -u smtptest)
gid=$(id -g smtptest)

# A CA and a server certificate it signed: rustls refuses a CA as the end-entity certificate.
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=smtp test CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$DIR/ca.key" -out "$DIR/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$DIR/server.key" \
    -out "$DIR/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$DIR/server.ext"
openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial \
    -days 30 -extfile "$DIR/server.ext" -out "$DIR/server.pem" 2>/dev/null
chmod 0644 "$DIR/server.key"

cat >"$DIR/access" <<'MAP'
/^reject/    550 5.1.1 User unknown
/^tempfail/  450 4.2.0 Try again later
MAP

postconf -e \
    "compatibility_level = 3.6" \
    "maillog_file = $DIR/postfix.log" \
    "myhostname = localhost" \
    "mydestination = localhost" \
    "inet_interfaces = 127.0.0.1" \
    "inet_protocols = ipv4" \
    "mynetworks = 127.0.0.0/8" \
    "virtual_mailbox_domains = example.net" \
    "virtual_mailbox_base = $DIR/mail" \
    "virtual_mailbox_maps = static:catchall/" \
    "virtual_uid_maps = static:$uid" \
    "virtual_gid_maps = static:$gid" \
    "virtual_minimum_uid = 1" \
    "smtpd_recipient_restrictions = check_recipient_access regexp:$DIR/access, permit_sasl_authenticated, permit_mynetworks, reject_unauth_destination" \
    "smtpd_tls_cert_file = $DIR/server.pem" \
    "smtpd_tls_key_file = $DIR/server.key" \
    "smtpd_tls_security_level = may" \
    "smtpd_tls_auth_only = yes" \
    "smtpd_sasl_type = dovecot" \
    "smtpd_sasl_path = private/auth" \
    "smtpd_sasl_auth_enable = no" \
    "message_size_limit = 41943040"

# Listeners on unprivileged loopback ports only; the default port-25 listener is removed.
sed -i -E '/^(smtp|submission|submissions|smtps|127\.0\.0\.1:10[0-9]+)[[:space:]]+inet/,/^[^[:space:]]/{/^(smtp|submission|submissions|smtps|127\.0\.0\.1:10[0-9]+)[[:space:]]+inet/d;/^[[:space:]]+-o/d}' /etc/postfix/master.cf
sed -i -E '/^postlog[[:space:]]/d' /etc/postfix/master.cf
cat >>/etc/postfix/master.cf <<'MASTER'
127.0.0.1:10025 inet n - n - - smtpd
127.0.0.1:10026 inet n - n - - smtpd
  -o smtpd_tls_security_level=none
127.0.0.1:10587 inet n - n - - smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
127.0.0.1:10465 inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
postlog unix-dgram n - n - 1 postlogd
MASTER

echo "testuser:{PLAIN}testpass" >"$DIR/users"
cat >"$DIR/dovecot.conf" <<CONF
protocols =
base_dir = $DIR/dovecot-run
log_path = $DIR/dovecot.log
ssl = no
auth_mechanisms = plain login scram-sha-1 scram-sha-256
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DIR/users
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$DIR
}
service auth {
  unix_listener /var/spool/postfix/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
CONF

if ! dovecot -c "$DIR/dovecot.conf" </dev/null >"$DIR/dovecot.start" 2>&1; then
    log "dovecot did not start: $(cat "$DIR/dovecot.start")"
    exit 1
fi
postfix check
postfix start </dev/null >/dev/null 2>&1

for port in 10025 10026 10587 10465; do
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
done
log "Postfix is listening on 127.0.0.1:10025, 10026, 10587 and 10465; mail goes to $DIR/mail/catchall"
echo "export SMTP_POSTFIX_DIR=$DIR"
