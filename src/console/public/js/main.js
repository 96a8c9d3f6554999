// Boots the console: language, sign-in, and the view that fits the token's roles.
import { currentSession, onSignedOut, signIn, signOut } from './api.js';
import { $, announce } from './dom.js';
import { applyI18n, language, onLanguageChange, setLanguage, t } from './i18n.js';
import { startAuditor, stopAuditor } from './auditor.js';
import { startPortal, stopPortal } from './portal.js';

const views = { signin: $('#signin'), auditor: $('#auditor'), portal: $('#portal') };

function show(name) {
  for (const [key, el] of Object.entries(views)) el.hidden = key !== name;
  $('#signout').hidden = name === 'signin';
  renderWho();
}

function renderWho() {
  const session = currentSession();
  const who = $('#who');
  who.hidden = !session;
  who.textContent = session ? t('signedInAs', { client: session.clientId, dept: session.dept }) : '';
}

function showSignInError(err) {
  const box = $('#signin-error');
  box.hidden = false;
  box.textContent = err.code === 'NETWORK' ? t('error.network') : [err.title, err.detail].filter(Boolean).join(' — ');
}

$('#signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector('button[type=submit]');
  const secretInput = $('#client-secret');
  $('#signin-error').hidden = true;
  button.disabled = true;
  button.textContent = t('signin.busy');
  try {
    const session = await signIn($('#client-id').value.trim(), secretInput.value);
    secretInput.value = '';
    announce('');
    if (session.roles.includes('auditor')) {
      show('auditor');
      await startAuditor();
    } else if (session.roles.includes('portal')) {
      show('portal');
      startPortal();
    } else {
      signOut(false);
      showSignInError({ title: t('signin.wrongRole') });
    }
  } catch (err) {
    showSignInError(err);
    secretInput.focus();
  } finally {
    button.disabled = false;
    button.textContent = t('signin.submit');
  }
});

$('#signout').addEventListener('click', () => signOut());

onSignedOut((reason) => {
  stopAuditor();
  stopPortal();
  announce(reason ? t('session.ended') : '');
  $('#signin-form').reset();
  $('#signin-error').hidden = true;
  show('signin');
  $('#client-id').focus();
});

$('#lang').addEventListener('click', () => setLanguage(language() === 'zh-CN' ? 'en' : 'zh-CN'));
onLanguageChange((lang) => {
  renderWho();
  // The button names the other language, in that language.
  $('#lang').lang = lang === 'en' ? 'zh-CN' : 'en';
});

applyI18n();
show('signin');
