/**
 * The form the verification pages share (WeChat `Behavior`s, kept in the verify subpackage: only its
 * pages use them). `consentField`: the notice's checkbox. `identityForm`: name and ID number with
 * their inline errors, plus the consent; `checkIdentityForm()` checks all three at once.
 */
import { ERRORS, messageOf } from '../../shared/errors';
import { checkIdCard } from '../../shared/idcard';
import { checkName } from '../../shared/person';

/** `detail` of a vant field's `change` (its value) or of a native component's event. */
export interface ValueEvent<T> {
  detail: T;
}

/** The native `<checkbox-group id="consent">` with one `agree` box. */
export const consentField = Behavior({
  data: {
    consent: false,
    consentError: '',
  },
  methods: {
    /** `detail.value` lists the ticked values. */
    onConsentChange(e: ValueEvent<{ value: string[] }>) {
      this.setData({ consent: e.detail.value.indexOf('agree') >= 0, consentError: '' });
    },
  },
});

/** Name, ID number and consent. The typed values live on the page only until the server has them. */
export const identityForm = Behavior({
  behaviors: [consentField],
  data: {
    name: '',
    idCard: '',
    nameError: '',
    idError: '',
    formError: '',
  },
  methods: {
    onNameChange(e: ValueEvent<string>) {
      // Once an error shows, it follows the typing so it disappears as soon as the value is right.
      this.setData({ name: e.detail, nameError: this.data.nameError && messageOf(checkName(e.detail)) });
    },
    onNameBlur() {
      if (this.data.name) this.setData({ nameError: messageOf(checkName(this.data.name)) });
    },
    onIdChange(e: ValueEvent<string>) {
      this.setData({ idCard: e.detail, idError: this.data.idError && messageOf(checkIdCard(e.detail)) });
    },
    onIdBlur() {
      if (this.data.idCard) this.setData({ idError: messageOf(checkIdCard(this.data.idCard)) });
    },
    /** Shows every field's error (and clears the form's); the checked values when all three are right. */
    checkIdentityForm(): { name: string; idCardNumber: string } | undefined {
      const name = checkName(this.data.name);
      const id = checkIdCard(this.data.idCard);
      const consent = this.data.consent;
      this.setData({
        nameError: messageOf(name),
        idError: messageOf(id),
        consentError: consent ? '' : ERRORS.CONSENT_REQUIRED,
        formError: '',
      });
      return name.ok && id.ok && consent ? { name: name.value, idCardNumber: id.value } : undefined;
    },
  },
});
