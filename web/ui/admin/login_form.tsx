/**
 * The admin login form.
 *
 * @module
 */
import { useState } from "preact/hooks";
import { Logo } from "../components/logo.tsx";
import type { AuthState } from "./auth_state.ts";

export function LoginForm({ auth }: { auth: AuthState }) {
  const [password, setPassword] = useState("");
  const message = auth.message.value;
  return (
    <div class="login-page">
      <form
        class="login-card"
        onSubmit={async (e) => {
          e.preventDefault();
          if (await auth.login(password)) setPassword("");
        }}
      >
        <Logo size={48} />
        <h1>Range admin</h1>
        <p class="muted">Staff only. Log in with the admin password.</p>
        <label class="field">
          <span>Password</span>
          <input
            type="password"
            name="password"
            autoComplete="current-password"
            autoFocus
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        {message && <p class="notice notice--error" role="alert">{message}</p>}
        <button type="submit" class="btn btn--primary btn--block" disabled={auth.busy.value}>
          {auth.busy.value ? "Logging in…" : "Log in"}
        </button>
      </form>
    </div>
  );
}
