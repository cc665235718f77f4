/**
 * An on-screen numeric keypad for the staff code (the kiosk has no keyboard). The code is shown
 * as dots; physical keyboards work too (digits, Backspace, Enter).
 *
 * @module
 */
import { useEffect } from "preact/hooks";

export interface KeypadProps {
  value: string;
  onChange: (value: string) => void;
  onSubmit: () => void;
  maxLength?: number;
  disabled?: boolean;
  submitLabel?: string;
}

const keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9"];

export function Keypad(props: KeypadProps) {
  const max = props.maxLength ?? 12;
  const press = (k: string) => {
    if (props.disabled) return;
    if (props.value.length < max) props.onChange(props.value + k);
  };
  const back = () => !props.disabled && props.onChange(props.value.slice(0, -1));
  const clear = () => !props.disabled && props.onChange("");

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement) return;
      if (/^[0-9]$/.test(e.key)) press(e.key);
      else if (e.key === "Backspace") back();
      else if (e.key === "Enter" && props.value.length > 0 && !props.disabled) props.onSubmit();
      else return;
      e.preventDefault();
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  });

  return (
    <div class="keypad">
      <div class="keypad-display" aria-live="polite" aria-label="Code entered">
        {props.value.length === 0
          ? <span class="keypad-placeholder">Staff code</span>
          : <span class="keypad-dots">{"●".repeat(props.value.length)}</span>}
      </div>
      <div class="keypad-keys">
        {keys.map((k) => (
          <button
            type="button"
            key={k}
            class="key"
            data-key={k}
            disabled={props.disabled}
            onClick={() => press(k)}
          >
            {k}
          </button>
        ))}
        <button
          type="button"
          class="key key--muted"
          data-key="clear"
          disabled={props.disabled}
          onClick={clear}
        >
          Clear
        </button>
        <button
          type="button"
          class="key"
          data-key="0"
          disabled={props.disabled}
          onClick={() => press("0")}
        >
          0
        </button>
        <button
          type="button"
          class="key key--muted"
          data-key="back"
          aria-label="Delete last digit"
          disabled={props.disabled}
          onClick={back}
        >
          ⌫
        </button>
      </div>
      <button
        type="button"
        class="btn btn--primary btn--block keypad-submit"
        disabled={props.disabled || props.value.length === 0}
        onClick={props.onSubmit}
      >
        {props.submitLabel ?? "Confirm payment"}
      </button>
    </div>
  );
}
