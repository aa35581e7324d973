/**
 * Set-up guides for customers' IT admins, one per identity provider, written in our own words from each IdP's public
 * documentation (the sources are listed with each guide). The setup page renders them with the organization's real
 * values; docs/setup/<id>.md are generated from the same data (scripts/setup-guides.ts, checked by a test), so the
 * two never disagree.
 *
 * Step text is plain text with two marks: **label** for a name on the IdP's screen, `value` for something typed.
 * Nothing here is HTML. This module is plain data: the browser bundle and the Node scripts both import it.
 */

export type IdpId = 'okta' | 'entra' | 'onelogin' | 'jumpcloud' | 'generic';

/** A value the IT admin pastes: the organization's SCIM base URL, its token, or a fixed text. */
export type GuideValue =
  | { readonly label: string; readonly kind: 'base-url' }
  | { readonly label: string; readonly kind: 'token' }
  | { readonly label: string; readonly kind: 'text'; readonly text: string };

export interface GuideStep {
  readonly text: string;
  /** The fields this step fills in, in the order the IdP's screen shows them. */
  readonly values?: readonly GuideValue[];
}

export interface Guide {
  readonly id: IdpId;
  readonly name: string;
  /** One paragraph: what the IT admin needs before starting. */
  readonly before: string;
  readonly steps: readonly GuideStep[];
  /** What to check once it runs, and the IdP's own quirks. */
  readonly notes: readonly string[];
  /** Where the steps come from; `url` only where we read the page itself. */
  readonly sources: readonly { readonly title: string; readonly url?: string }[];
}

const BASE_URL = (label: string): GuideValue => ({ label, kind: 'base-url' });
const TOKEN = (label: string): GuideValue => ({ label, kind: 'token' });
const TEXT = (label: string, text: string): GuideValue => ({ label, kind: 'text', text });

export const GUIDES: readonly Guide[] = [
  {
    id: 'okta',
    name: 'Okta',
    before:
      'You need an Okta administrator account that can edit applications, and Okta Lifecycle Management (provisioning). ' +
      'Okta adds SCIM to SAML and SWA app integrations; if your users already sign in to this app through Okta, use that app integration.',
    steps: [
      {
        text:
          'In the Okta Admin Console, open **Applications** > **Applications**. Open the app integration for this app, or select **Create App Integration**, choose **SAML 2.0**, and finish the wizard.',
      },
      {
        text: 'On the app\'s **General** tab, select **Edit** under **App Settings**, turn on SCIM provisioning (**Provisioning**: **SCIM**), and select **Save**. A **Provisioning** tab appears.',
      },
      {
        text: 'Open **Provisioning** > **Integration**, select **Edit**, and fill in the SCIM connection:',
        values: [
          BASE_URL('SCIM connector base URL'),
          TEXT('Unique identifier field for users', 'userName'),
          TEXT('Supported provisioning actions', 'Push New Users, Push Profile Updates, Push Groups'),
          TEXT('Authentication Mode', 'HTTP Header'),
          TOKEN('Authorization (Bearer)'),
        ],
      },
      {
        text: 'Select **Test Connector Configuration**. Okta reads the server\'s capabilities and shows a green check for each action it can use. Close the dialog and select **Save**.',
      },
      {
        text: 'Open **Provisioning** > **To App**, select **Edit**, enable **Create Users**, **Update User Attributes** and **Deactivate Users**, and select **Save**.',
      },
      {
        text: 'On the **Assignments** tab, assign the people or groups who should have access. Each assignment creates the user here within a few seconds.',
      },
      {
        text: 'To send groups (the app can give roles by group), open the **Push Groups** tab, choose **Push Groups** > **Find groups by name**, pick a group, and select **Save**.',
      },
    ],
    notes: [
      'Unassigning a person, or deactivating them in Okta, deactivates the user here (`active` becomes false); Okta does not delete users.',
      'Okta pushes group membership only for groups listed under **Push Groups**; assigning a group on **Assignments** provisions its people, not the group itself.',
    ],
    sources: [
      { title: 'Okta: Build a SCIM provisioning integration (concepts)', url: 'https://developer.okta.com/docs/concepts/scim/' },
      { title: 'Okta Integration Wizard: provisioning settings', url: 'https://help.okta.com/en-us/content/topics/apps/oiw/provisioning-settings.htm' },
    ],
  },
  {
    id: 'entra',
    name: 'Microsoft Entra ID',
    before:
      'You need at least the Application Administrator role in Microsoft Entra ID. Provisioning users works with every Entra ID plan; assigning groups to an application needs P1 or P2.',
    steps: [
      {
        text:
          'Sign in to the Microsoft Entra admin center and open **Identity** > **Applications** > **Enterprise applications**. Open this app if it is already there; otherwise select **New application** > **Create your own application**, enter a name, choose **Integrate any other application you don\'t find in the gallery (Non-gallery)**, and select **Create**.',
      },
      {
        text: 'In the application, select **Provisioning** in the left panel, then **New configuration** (older tenants: **Get started**, and set **Provisioning Mode** to **Automatic**).',
      },
      {
        text: 'Fill in the admin credentials:',
        values: [BASE_URL('Tenant URL'), TOKEN('Secret Token')],
      },
      {
        text:
          'Select **Test Connection**. Entra looks up a user that does not exist and expects an empty list; a green message means the URL and the token are right. Then select **Create** (or **Save**).',
      },
      {
        text:
          'Under **Mappings** (or **Attribute mapping**), check the user mapping: `userPrincipalName` goes to `userName`, and `userName` is a matching property. Leave the group mapping on to send groups.',
      },
      {
        text:
          'Open **Users and groups** in the left panel and assign the people or groups who should have access. With **Scope** set to **Sync only assigned users and groups** (the default), nobody else is sent.',
      },
      {
        text: 'Optionally test one person with **Provision on demand**. Then return to **Overview** and select **Start provisioning**.',
      },
    ],
    notes: [
      'Entra ID runs a cycle about every 40 minutes, so changes arrive in batches, not at once; **Provision on demand** sends one person straight away.',
      'Removing a person from the application, or disabling or deleting them in Entra ID, sets `active` to false here. Entra ID deletes the user here only once it is permanently deleted in Entra ID: 30 days after the deletion, or at once when an administrator deletes it permanently.',
      'Entra ID sends PATCH operations in its own dialect (`"op": "Replace"`, booleans as strings); this server accepts them.',
    ],
    sources: [
      {
        title: 'Microsoft Learn: Tutorial — develop and plan provisioning for a SCIM endpoint in Microsoft Entra ID',
        url: 'https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups',
      },
      { title: 'Microsoft Learn: How application provisioning works (de-provisioning)', url: 'https://learn.microsoft.com/en-us/entra/identity/app-provisioning/how-provisioning-works' },
    ],
  },
  {
    id: 'onelogin',
    name: 'OneLogin',
    before: 'You need a OneLogin administrator account that can add applications.',
    steps: [
      {
        text:
          'In OneLogin, open **Applications** > **Applications** and select **Add App**. Search for `SCIM Provisioner with SAML (SCIM v2 Enterprise)` (or the **SCIM v2 Core** variant), select it, give it a name, and select **Save**.',
      },
      {
        text: 'Open the app\'s **Configuration** tab and fill in the **API Connection**:',
        values: [BASE_URL('SCIM Base URL'), TOKEN('SCIM Bearer Token')],
      },
      {
        text: 'Under **API Status**, select **Enable**. OneLogin connects once to check the URL and the token; the status turns to **Enabled**. Select **Save**.',
      },
      {
        text: 'Open the **Provisioning** tab, select **Enable provisioning**, clear the **Require admin approval** boxes for create, delete and update if you want changes sent without a review, choose what happens when a user is deleted in OneLogin (**Suspend** is safest), and select **Save**.',
      },
      {
        text: 'Open the **Parameters** tab and check that **SCIM Username** is set (usually to the email). To send groups, select the **Groups** parameter and enable **Include in User Provisioning**.',
      },
      {
        text: 'Give people access: on the app\'s **Access** tab assign roles, or assign the app to users. OneLogin then provisions them.',
      },
    ],
    notes: ['OneLogin shows each provisioning task under **Users** > **Provisioning**; a task waiting for approval has not been sent yet.'],
    sources: [{ title: "OneLogin's documentation of its SCIM Provisioner with SAML connectors (Configuration, Provisioning and Parameters tabs), as vendors quote it in their OneLogin set-up guides" }],
  },
  {
    id: 'jumpcloud',
    name: 'JumpCloud',
    before: 'You need a JumpCloud administrator account. JumpCloud sends users to the applications that user groups are bound to.',
    steps: [
      {
        text:
          'In the JumpCloud Admin Portal, open **SSO Applications** and select **Add New Application** > **Custom Application**. Select **Export users to this app (Identity Management)** (and SSO if you also sign in through JumpCloud), name it, and select **Save Application**, then **Configure Application**.',
      },
      {
        text: 'On the **Identity Management** tab choose **SCIM API** and **SCIM 2.0**, and fill in:',
        values: [BASE_URL('Base URL'), TOKEN('Token Key'), TEXT('Test User Email', 'the email of a real JumpCloud user')],
      },
      {
        text: 'To send groups too, turn on **Group Management** (**Enable management of User Groups and Group Membership**).',
      },
      {
        text: 'Select **Test Connection**. When it succeeds, select **Activate**, then **Save**.',
      },
      {
        text: 'On the application\'s **User Groups** tab, select the groups whose members should have access, and select **Save**. JumpCloud provisions their members.',
      },
    ],
    notes: ['Suspending a user in JumpCloud, or unbinding their group, sets `active` to false here.'],
    sources: [{ title: 'JumpCloud: user provisioning with SCIM (Identity Management)', url: 'https://docs.jumpcloud.com/new/guides/user-provisioning-with-scim-and-hris/index.html' }],
  },
  {
    id: 'generic',
    name: 'Another SCIM 2.0 client',
    before: 'Any SCIM 2.0 client (RFC 7643, RFC 7644) that sends a bearer token works: Google Workspace connectors, PingFederate, Keycloak plug-ins, scripts.',
    steps: [
      {
        text: 'In your provisioning tool, create a SCIM 2.0 connection (sometimes called an outbound or "push" connector) and enter:',
        values: [BASE_URL('SCIM base URL'), TEXT('Authentication', 'Bearer token (OAuth bearer token, HTTP header Authorization: Bearer ...)'), TOKEN('Token')],
      },
      {
        text: 'Users live at `/Users` and groups at `/Groups` under the base URL. Match users on `userName` (unique per organization, compared case-insensitively) and groups on `displayName`.',
      },
      {
        text: 'Run the tool\'s connection test, or send one request yourself: `GET <base URL>/ServiceProviderConfig` with the token answers 200 and lists what the server supports (PATCH, Bulk, filtering, sorting, ETags).',
      },
      {
        text: 'Provision a test user and watch the status on this page turn green.',
      },
    ],
    notes: [
      'Deactivate users with `active: false` (PATCH or PUT) rather than deleting them, so the app can tell leavers from mistakes.',
      'Rate limits apply per organization; past them the server answers 429 with `Retry-After`.',
    ],
    sources: [
      { title: 'RFC 7644: SCIM protocol', url: 'https://www.rfc-editor.org/rfc/rfc7644' },
      { title: 'RFC 7643: SCIM core schema', url: 'https://www.rfc-editor.org/rfc/rfc7643' },
    ],
  },
];

export function findGuide(id: string): Guide | undefined {
  return GUIDES.find((guide) => guide.id === id);
}

/** The text of a value for a reader who has the organization's URL and token (or placeholders for them). */
export function valueText(value: GuideValue, baseUrl: string, token: string): string {
  return value.kind === 'base-url' ? baseUrl : value.kind === 'token' ? token : value.text;
}

/** A guide as Markdown (docs/setup/<id>.md), with placeholders for the organization's values. */
export function guideMarkdown(guide: Guide): string {
  const baseUrl = 'https://<your scimkit host>/scim/v2/organizations/<organization id>';
  const token = '<the token from the setup page>';
  const lines: string[] = [
    `# Setting up SCIM provisioning with ${guide.name}`,
    '',
    '<!-- Generated from src/console/guides.ts by `node --import tsx scripts/setup-guides.ts`; edit that file, not this one. -->',
    '',
    'Open the setup link you were sent: it shows this guide with your organization\'s real base URL, and creates the token. ' +
      'The values below are placeholders for them.',
    '',
    guide.before,
    '',
    '## Steps',
    '',
  ];
  guide.steps.forEach((step, i) => {
    lines.push(`${i + 1}. ${step.text}`);
    for (const value of step.values ?? []) lines.push(`   - **${value.label}**: \`${valueText(value, baseUrl, token)}\``);
  });
  lines.push('', '## Good to know', '', ...guide.notes.map((note) => `- ${note}`), '', '## Sources', '');
  lines.push(...guide.sources.map((source) => (source.url ? `- [${source.title}](${source.url})` : `- ${source.title}`)), '');
  return lines.join('\n');
}
