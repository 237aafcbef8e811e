package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Tokens issues and verifies HMAC-signed bearer tokens. Any replica holding
// the same secret verifies them; nothing is kept in memory.
type Tokens struct {
	secret []byte
	ttl    time.Duration
}

// NewTokens builds a token issuer.
func NewTokens(secret []byte, ttl time.Duration) *Tokens {
	return &Tokens{secret: secret, ttl: ttl}
}

const issuer = "twinning"

// Issue signs a token for userID and its session (the jti, a row of the
// sessions table) valid for the TTL from now.
func (t *Tokens) Issue(userID int64, sessionID string, now time.Time) (string, time.Time, error) {
	exp := now.Add(t.ttl)
	claims := jwt.RegisteredClaims{
		ID:        sessionID,
		Issuer:    issuer,
		Subject:   strconv.FormatInt(userID, 10),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	return s, exp, err
}

// TTL is the absolute lifetime of a token.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Sign is an HMAC of msg under the token key: the CSRF token of a page
// session is Sign("csrf:" + session id).
func (t *Tokens) Sign(msg string) string {
	m := hmac.New(sha256.New, t.secret)
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks signature and expiry as of now and returns the user id and
// the session id.
func (t *Tokens) Verify(token string, now time.Time) (int64, string, error) {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return 0, "", fmt.Errorf("token expired")
		}
		return 0, "", fmt.Errorf("invalid token")
	}
	id, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil || id <= 0 || claims.ID == "" || len(claims.ID) > 64 {
		return 0, "", fmt.Errorf("invalid token")
	}
	return id, claims.ID, nil
}

// SessionOf returns the session id of a token whose signature is good,
// expired or not: a form posted after its session ended is recognised as
// that session's own (to bring the user back to it after signing in).
func (t *Tokens) SessionOf(token string) string {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithoutClaimsValidation())
	if err != nil {
		return ""
	}
	return claims.ID
}
