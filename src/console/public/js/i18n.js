// Chinese (default) and English (strings.js). Elements carry data-i18n (text), data-i18n-label
// (aria-label) or data-i18n-placeholder; dynamic views call t() and re-render on a switch.

import { STRINGS } from './strings.js';

let current = 'zh-CN';
const listeners = new Set();

export const language = () => current;

/** The string for key in the current language, with {name} placeholders filled from vars. */
export function t(key, vars = {}) {
  const template = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (_, name) => (vars[name] === undefined || vars[name] === null ? '' : String(vars[name])));
}

/** A translation when one exists (action and outcome codes), else the raw code. */
export const label = (prefix, code) => (code && STRINGS[current][`${prefix}.${code}`]) || code || '';

/** Fills every data-i18n* element under root. */
export function applyI18n(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.setAttribute('placeholder', t(el.dataset.i18nPlaceholder));
  document.title = t('app.title');
}

export function setLanguage(lang) {
  current = lang in STRINGS ? lang : 'zh-CN';
  applyI18n();
  for (const fn of listeners) fn(current);
}

/** Called after every language switch (views re-render what they built). */
export const onLanguageChange = (fn) => listeners.add(fn);

/** Dates in the reader's language, in local time. */
export function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(current, { dateStyle: 'medium', timeStyle: 'medium' });
}
