/**
 * `main.ts hash-password`: prints the PBKDF2 hash of a password (or a staff counter code) for
 * the config file. The secret is read from stdin, never from the command line (which would leave
 * it in the shell history and the process list); on a terminal it is typed without echo.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DEFAULT_ITERATIONS, hashPassword, MAX_ITERATIONS, MIN_ITERATIONS } from "./password.ts";

export const HASH_PASSWORD_HELP =
  `Usage: dispenser-hub hash-password [--staff NAME] [--iterations N]

Reads a password from stdin and prints its hash for the configuration file.

  Admin password:  echo -n 'correct horse' | dispenser-hub hash-password
                   -> put the printed line into "web": {"admin_password_hash": "..."}
  Counter code:    echo -n '482913' | dispenser-hub hash-password --staff anna --iterations 100000
                   -> add the printed object to "web": {"counter_codes": [...]}

On a terminal the secret is typed without echo (twice, to confirm).

Options:
  --staff NAME      Print a counter_codes entry {"staff": NAME, "hash": ...} instead of the hash
  --iterations N    PBKDF2 iterations (default ${DEFAULT_ITERATIONS}; ${MIN_ITERATIONS}..${MAX_ITERATIONS})
  -h, --help        Show this help
`;

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const c of stream) chunks.push(c);
  const text = new TextDecoder().decode(
    chunks.length === 1 ? chunks[0] : new Uint8Array(chunks.flatMap((c) => [...c])),
  );
  return text.replace(/\r?\n$/, "");
}

/** Reads one line from the terminal without echo. */
async function readSecretFromTerminal(label: string): Promise<string> {
  const enc = new TextEncoder();
  await Deno.stderr.write(enc.encode(label));
  Deno.stdin.setRaw(true);
  const out: string[] = [];
  const buf = new Uint8Array(64);
  try {
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      const text = new TextDecoder().decode(buf.subarray(0, n));
      for (const ch of text) {
        if (ch === "\r" || ch === "\n") return out.join("");
        if (ch === "\u0003") throw new Error("cancelled");
        if (ch === "\u007f" || ch === "\b") out.pop();
        else out.push(ch);
      }
    }
    return out.join("");
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(enc.encode("\n"));
  }
}

/** Runs the command; returns the exit code (2 for bad usage). */
export async function hashPasswordCommand(
  args: string[],
  io: {
    stdin?: ReadableStream<Uint8Array>;
    terminal?: boolean;
    print?: (s: string) => void;
    printError?: (s: string) => void;
  } = {},
): Promise<number> {
  const printError = io.printError ?? ((s: string) => console.error(s));
  let values: { staff?: string; iterations?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        staff: { type: "string" },
        iterations: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    printError(`error: ${(err as Error).message}\n\n${HASH_PASSWORD_HELP}`);
    return 2;
  }
  const print = io.print ?? ((s: string) => console.log(s));
  if (values.help) {
    print(HASH_PASSWORD_HELP);
    return 0;
  }
  const iterations = values.iterations === undefined
    ? DEFAULT_ITERATIONS
    : Number(values.iterations);
  if (
    !/^\d+$/.test(values.iterations ?? String(DEFAULT_ITERATIONS)) ||
    iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS
  ) {
    printError(
      `error: --iterations must be a whole number from ${MIN_ITERATIONS} to ${MAX_ITERATIONS}, ` +
        `got ${JSON.stringify(values.iterations)}`,
    );
    return 2;
  }
  const terminal = io.terminal ?? (io.stdin === undefined && Deno.stdin.isTerminal());
  let secret: string;
  if (terminal) {
    secret = await readSecretFromTerminal(values.staff ? "Counter code: " : "Password: ");
    const again = await readSecretFromTerminal("Again: ");
    if (again !== secret) {
      printError("error: the two entries differ; nothing printed");
      return 1;
    }
  } else {
    secret = await readAll(io.stdin ?? Deno.stdin.readable);
  }
  if (secret.length === 0) {
    printError("error: empty input; pipe the password in, e.g. echo -n 'secret' | ...");
    return 2;
  }
  if (!values.staff && secret.length < 10) {
    printError("warning: an admin password shorter than 10 characters is easy to guess");
  }
  const hash = await hashPassword(secret, { iterations });
  print(values.staff ? JSON.stringify({ staff: values.staff, hash }) : hash);
  return 0;
}
