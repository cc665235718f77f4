/**
 * The range's mark: a flag on a green, drawn inline (no emoji font is needed on the kiosk).
 *
 * @module
 */

export function Logo({ size = 52 }: { size?: number }) {
  return (
    <svg
      class="brand-mark"
      width={size}
      height={size}
      viewBox="0 0 48 48"
      role="img"
      aria-label="Driving range"
    >
      <rect width="48" height="48" rx="13" fill="#15803d" />
      <ellipse cx="24" cy="38" rx="14" ry="4" fill="#22c55e" />
      <path d="M21 10v27" stroke="#f8fafc" stroke-width="2.6" stroke-linecap="round" />
      <path d="M22.3 10.5 35 15.5l-12.7 5z" fill="#fbbf24" />
      <circle cx="31" cy="35.5" r="3" fill="#f8fafc" />
    </svg>
  );
}
